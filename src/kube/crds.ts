// Installs the project's CRDs with server-side apply and waits until the API server serves them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { KubeClient } from './client.ts';

interface Crd { metadata: { name: string }; status?: { conditions?: Array<{ type: string; status: string }> } }

export async function applyCrds(client: KubeClient, dir: string, timeoutMs = 60_000): Promise<string[]> {
  const crds = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()
    .flatMap((f) => yaml.loadAll(readFileSync(join(dir, f), 'utf8')) as Crd[]).filter(Boolean);
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of crds) {
    await client.request('PATCH', `${base}/${crd.metadata.name}`, {
      body: crd, contentType: 'application/apply-patch+yaml', query: { fieldManager: 'chaosrun-operator', force: true },
    });
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const got = await client.request<Crd>('GET', `${base}/${crd.metadata.name}`);
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} was not Established within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return crds.map((c) => c.metadata.name);
}
