// A real Prometheus (Debian's `prometheus` package) on loopback, scraping a tiny exporter whose gauge
// the test sets. Installs the package when it is missing (CI runs as root); never skips.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './env.ts';

function hasPrometheus(): boolean {
  try { execFileSync('prometheus', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

export function ensurePrometheus(): void {
  if (hasPrometheus()) return;
  const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'],
    { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    install();
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'pipe' });
      install();
    } catch (err) {
      throw new Error(`the gate tests need Prometheus: apt-get install prometheus failed (${(err as Error).message.split('\n')[0]}); install Debian's prometheus package`);
    }
  }
  if (!hasPrometheus()) throw new Error('prometheus is still not on the PATH after installing the Debian package');
}

export interface Exporter { port: number; set(value: number): void; close(): Promise<void> }

export async function startExporter(name: string, initial: number): Promise<Exporter> {
  let value = initial;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(`# TYPE ${name} gauge\n${name} ${value}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    set: (v) => { value = v; },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface PrometheusServer { url: string; stop(): Promise<void>; start(): Promise<void> }

export async function startPrometheus(exporterPort: number): Promise<PrometheusServer> {
  ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), 'chaosrun-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: test\n  static_configs:\n  - targets: ['127.0.0.1:${exporterPort}']\n`);
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
    await eventually('Prometheus ready', async () => (await fetch(`${url}/-/ready`)).ok, 30_000, 200);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return { url, start, stop };
}
