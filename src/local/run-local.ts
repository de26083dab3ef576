// `chaosrun local`: placeholder wired up by the controller and signal-server modules.
export async function runLocal(_: { port: number; bind: string }): Promise<number> {
  throw new Error('not yet');
}
