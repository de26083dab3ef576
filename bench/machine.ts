// What the figures were measured on: they mean little without it.
import os from 'node:os';
import type { KubeClient } from '../src/kube/client.ts';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  kubernetes: string;
  /** 1-minute load average when the bench started and ended: other work on the machine shows here. */
  loadAverage: { start: number; end?: number };
}

export async function machineInfo(client: KubeClient): Promise<Machine> {
  const version = await client.request<{ gitVersion: string }>('GET', '/version');
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    kubernetes: version.gitVersion,
    loadAverage: { start: os.loadavg()[0] },
  };
}

export const machineLine = (m: Machine) =>
  `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, Kubernetes ${m.kubernetes}` +
  `, load average ${m.loadAverage.start.toFixed(2)} at start${m.loadAverage.end === undefined ? '' : ` / ${m.loadAverage.end.toFixed(2)} at end`}`;
