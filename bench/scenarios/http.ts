// 6. The signal server's HTTP API under load: autocannon against GET / and GET /runs/{ns}/{name},
// and the POST latency measured by the signal scenario's HTTP door.
import autocannon from 'autocannon';
import type { Bench } from '../context.ts';
import { latency, value, type Figure } from '../report.ts';

const CONNECTIONS = 10;

export async function httpLoad(b: Bench, postMs: readonly number[]): Promise<Figure[]> {
  const ns = b.namespaces.main;
  const inScope = await fetch(`${b.operator.signalUrl}/runs`).then((r) => r.json()) as { runs: unknown[] };
  const note = `${b.sizes.httpSeconds}s, ${CONNECTIONS} connections, ${inScope.runs.length} runs in scope`;
  const figures: Figure[] = [];
  for (const path of ['/', `/runs/${ns}/signal`]) {
    const label = path === '/' ? 'GET /' : 'GET /runs/{ns}/{name}';
    const r = await autocannon({ url: b.operator.signalUrl + path, duration: b.sizes.httpSeconds, connections: CONNECTIONS });
    if (r.non2xx || r.errors || r.timeouts) b.details[`http ${label} problems`] = { non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts };
    figures.push(value('6', `${label} throughput`, 'req/s', r.requests.average, r.requests.total, note));
    // autocannon reports p97.5 but not p95; the column stays empty rather than guessed.
    figures.push({
      section: '6', name: `${label} latency`, unit: 'ms', samples: r.latency.totalCount,
      p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max,
      vsFloor: { p50: Math.round((r.latency.p50 / b.floor.p50) * 10) / 10, p99: Math.round((r.latency.p99 / b.floor.p99) * 10) / 10 },
      note: `${note}; p95 not reported by autocannon`,
    });
  }
  figures.push(latency('6', 'POST /runs/{ns}/{name}/PAUSE|RUN round trip (one client, from 2)', postMs, b.floor));
  return figures;
}
