// Placeholder: the controller process entry lands with src/controller/manager.ts.
export async function controllerCommand(_args: string[]): Promise<number> {
  throw new Error('controller is not built yet');
}
