// What the krkn API proxy changes in a request: a pure function of the request's method, URL, body and
// the two namespaces, so it is unit-tested on plain strings (src/krkn-proxy/rewrite.test.ts).
//
// krkn's network-chaos scenario makes its helpers (a privileged `fedtools-<n>` pod it execs into, then
// `chaos-<param><hash>` Jobs that add and later delete a tc qdisc on a node) in the namespace `default`,
// hard-coded in krkn's code, with no label, owner or name that says which krkn made them. Nothing found
// there afterwards could be told from anyone else's. So the step's krkn talks to the API server through
// this proxy, which moves every request about namespace `default` into the step's own helper namespace
// (src/scenarios/krkn-helpers.ts): krkn's helpers are made there, krkn finds them there, and the
// operator removes that namespace when the step ends, however it ended. Requests about any other
// namespace, or about the cluster scope (krkn lists nodes), pass unchanged.
//
// The path decides where the API server puts an object (a body whose metadata.namespace disagrees with
// the path is refused), so the path alone contains krkn; the body's metadata.namespace is rewritten too
// only so that the request stays the one krkn meant instead of becoming a refusal, and the answers to
// moved requests say `default` again, so that a client that checks it got what it asked for (kubectl
// does) is not refused either. krkn is told nothing else: it believes it works in `default`.
// A leaf module: it imports nothing.

/** The namespaced resource paths the API server serves: core, named groups, and the old watch prefix. */
const NAMESPACED = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)(\/watch)?\/namespaces\/([^/?]+)(\/.*)?$/;

/** The request path (no query) with namespace `from` replaced by `to` when it names that namespace. */
export function rewritePath(path: string, from: string, to: string): string {
  const m = NAMESPACED.exec(path);
  if (!m || decodeURIComponent(m[3]) !== from) return path;
  return `${m[1]}${m[2] ?? ''}/namespaces/${to}${m[4] ?? ''}`;
}

/** A field selector's `metadata.namespace=from` (or `==`) clause, which a cluster-scope list may carry. */
function rewriteFieldSelector(value: string, from: string, to: string): string {
  return value.split(',').map((clause) => {
    const m = /^(\s*metadata\.namespace\s*(?:==|=)\s*)(.*?)(\s*)$/.exec(clause);
    return m && m[2] === from ? `${m[1]}${to}${m[3]}` : clause;
  }).join(',');
}

/** The request target (path and query) as the proxy forwards it. */
export function rewriteTarget(target: string, from: string, to: string): string {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const newPath = rewritePath(path, from, to);
  if (q < 0) return newPath;
  const params = new URLSearchParams(target.slice(q + 1));
  const selector = params.get('fieldSelector');
  if (selector === null) return `${newPath}${target.slice(q)}`;
  params.set('fieldSelector', rewriteFieldSelector(selector, from, to));
  return `${newPath}?${params.toString()}`;
}

/** Bodies the proxy reads: JSON and the JSON patch flavours (application/json, …merge-patch+json). */
export function isJsonBody(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/([a-z-]+\+)?json\s*(;|$)/i.test(contentType.trim());
}

/**
 * A JSON request body with metadata.namespace `from` set to `to`; anything else (not JSON, no such
 * field, another namespace) unchanged. Returns the body to send.
 */
export function rewriteBody(body: string, from: string, to: string): string {
  let parsed: unknown;
  try { parsed = JSON.parse(body); } catch { return body; }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return body;
  const metadata = (parsed as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null || (metadata as { namespace?: unknown }).namespace !== from) return body;
  (metadata as { namespace: string }).namespace = to;
  return JSON.stringify(parsed);
}

/** Sets metadata.namespace `to` back to `from` on one object; true when it changed it. */
function renameNamespace(obj: unknown, from: string, to: string): boolean {
  if (typeof obj !== 'object' || obj === null) return false;
  const metadata = (obj as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null || (metadata as { namespace?: unknown }).namespace !== from) return false;
  (metadata as { namespace: string }).namespace = to;
  return true;
}

/**
 * The API server's answer to a moved request, as krkn expects it: objects of the helper namespace `to`
 * say namespace `from` again (an object, a list's items, a watch event's object), so a client that checks
 * it got what it asked for (kubectl does) finds it. Anything else is returned as it came.
 */
export function rewriteResponse(body: string, from: string, to: string): string {
  let parsed: unknown;
  try { parsed = JSON.parse(body); } catch { return body; }
  if (typeof parsed !== 'object' || parsed === null) return body;
  let changed = renameNamespace(parsed, to, from);
  const items = (parsed as { items?: unknown }).items;
  if (Array.isArray(items)) for (const item of items) changed = renameNamespace(item, to, from) || changed;
  changed = renameNamespace((parsed as { object?: unknown }).object, to, from) || changed;
  return changed ? JSON.stringify(parsed) : body;
}

/** The kubeconfig krkn reads: the proxy on loopback, plain HTTP, no credentials (the proxy holds them). */
export function proxyKubeconfig(url: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: chaosrun-krkn-proxy',
    '  cluster:',
    `    server: ${url}`,
    'users:',
    '- name: krkn',
    '  user: {}',
    'contexts:',
    '- name: chaosrun-krkn-proxy',
    '  context:',
    '    cluster: chaosrun-krkn-proxy',
    '    user: krkn',
    'current-context: chaosrun-krkn-proxy',
    '',
  ].join('\n');
}
