// Placeholder until the signal server lands (issue 5).
export async function signalServerCommand(_args: string[]): Promise<number> {
  throw new Error('signal-server is not built yet');
}
