// `kubectl chaosrun logs NAME [--step S] [--iteration N] [-f]`: the log of a step's pod, streamed as
// the API server sends it. Which step: the one running, else the latest; --step and --iteration narrow
// it to the latest Job that matches. The operator keeps the last few finished Jobs (--keep-jobs), so an
// older step's log is gone with its Job, and the error says so.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { LABEL_ITERATION, LABEL_RUN, LABEL_STEP, LABEL_STEP_INDEX } from '../api/constants.ts';
import type { ChaosRun } from '../api/types.ts';
import { KubeError, type KubeClient } from '../kube/client.ts';
import { paths } from '../kube/paths.ts';

interface Meta { name: string; creationTimestamp?: string; labels?: Record<string, string> }
interface JobItem { metadata: Meta }
interface PodItem { metadata: Meta; spec?: { containers?: Array<{ name: string }> } }

export interface StepSelector { step?: string; iteration?: number }

export interface StepPod { job: string; pod: string; container?: string; iteration: number; step: string }

const newest = <T extends { metadata: Meta }>(items: T[]) =>
  [...items].sort((a, b) => Date.parse(b.metadata.creationTimestamp ?? '') - Date.parse(a.metadata.creationTimestamp ?? ''))[0];

/** The step's Job and its pod, or a one-line reason there is none. */
export async function findStepPod(client: KubeClient, run: ChaosRun, sel: StepSelector): Promise<StepPod> {
  const { namespace, name } = run.metadata;
  const selector = [`${LABEL_RUN}=${name}`, ...(sel.iteration !== undefined ? [`${LABEL_ITERATION}=${sel.iteration}`] : []),
    ...(sel.step !== undefined ? [`${LABEL_STEP}=${sel.step}`] : [])].join(',');
  const jobs = (await client.request<{ items: JobItem[] }>('GET', paths.jobs(namespace), { query: { labelSelector: selector } })).items;
  const which = [sel.step !== undefined ? `step ${sel.step}` : '', sel.iteration !== undefined ? `iteration ${sel.iteration}` : ''].filter(Boolean).join(', ');
  if (jobs.length === 0) {
    throw new Error(`ChaosRun ${namespace}/${name} has no Job${which ? ` for ${which}` : ''}: not started yet, or deleted (the operator keeps the last finished Jobs, see --keep-jobs)`);
  }
  const order = (j: JobItem) => Number(j.metadata.labels?.[LABEL_ITERATION]) * 1e6 + Number(j.metadata.labels?.[LABEL_STEP_INDEX]);
  const active = sel.step === undefined && sel.iteration === undefined ? jobs.find((j) => j.metadata.name === run.status?.activeJob) : undefined;
  const job = active ?? [...jobs].sort((a, b) => order(b) - order(a))[0];
  const pods = (await client.request<{ items: PodItem[] }>('GET', paths.pods(namespace), { query: { labelSelector: `job-name=${job.metadata.name}` } })).items;
  const pod = newest(pods);
  if (!pod) throw new Error(`the Job ${job.metadata.name} has no pod (not scheduled yet, or already cleaned up)`);
  return {
    job: job.metadata.name, pod: pod.metadata.name, container: pod.spec?.containers?.[0]?.name,
    iteration: Number(job.metadata.labels?.[LABEL_ITERATION]), step: job.metadata.labels?.[LABEL_STEP] ?? '?',
  };
}

/** Streams the pod's log to `out` (until the pod ends, with follow); API refusals are KubeErrors. */
export async function streamLog(client: KubeClient, namespace: string, target: StepPod, follow: boolean, out: NodeJS.WritableStream): Promise<void> {
  const auth: RequestOptions = {};
  await client.kc.applyToHTTPSOptions(auth);
  const url = new URL(`${paths.pods(namespace, target.pod)}/log`, client.server);
  if (target.container) url.searchParams.set('container', target.container);
  if (follow) url.searchParams.set('follow', 'true');
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  await new Promise<void>((resolve, reject) => {
    const req = send(url, {
      method: 'GET', headers: { ...(auth.headers as Record<string, string> | undefined), Accept: '*/*' },
      ca: auth.ca, cert: auth.cert, key: auth.key, rejectUnauthorized: auth.rejectUnauthorized, servername: auth.servername,
    }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let st: { reason?: string; message?: string } = {};
          try { st = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof st; } catch { /* not a Status */ }
          reject(new KubeError(status, st.reason ?? String(status), st.message ?? `HTTP ${status}`));
        });
        return;
      }
      res.on('data', (c: Buffer) => out.write(c));
      res.on('end', resolve);
      res.on('error', (e) => reject(new KubeError(0, 'Unreachable', e.message)));
    });
    // Without follow the answer is whole; with it, the stream lasts as long as the container.
    if (!follow) req.setTimeout(60_000, () => req.destroy(new Error('timed out after 60 s')));
    req.on('error', (e) => reject(new KubeError(0, 'Unreachable', `GET ${url.pathname}: ${e.message}`)));
    req.end();
  });
}
