// REST paths of the resources this project touches.
import { GROUP, PLURAL, VERSION } from '../api/constants.ts';

const ns = (namespace?: string) => (namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '');
const named = (name?: string) => (name ? `/${encodeURIComponent(name)}` : '');

export const paths = {
  chaosRuns: (namespace?: string, name?: string) => `/apis/${GROUP}/${VERSION}${ns(namespace)}/${PLURAL}${named(name)}`,
  chaosRunStatus: (namespace: string, name: string) => `${paths.chaosRuns(namespace, name)}/status`,
  jobs: (namespace?: string, name?: string) => `/apis/batch/v1${ns(namespace)}/jobs${named(name)}`,
  pods: (namespace?: string, name?: string) => `/api/v1${ns(namespace)}/pods${named(name)}`,
  configMaps: (namespace: string, name?: string) => `/api/v1${ns(namespace)}/configmaps${named(name)}`,
  events: (namespace: string) => `/api/v1${ns(namespace)}/events`,
  leases: (namespace: string, name?: string) => `/apis/coordination.k8s.io/v1${ns(namespace)}/leases${named(name)}`,
  namespaces: (name?: string) => `/api/v1/namespaces${named(name)}`,
  nodes: (name?: string) => `/api/v1/nodes${named(name)}`,
  eviction: (namespace: string, name: string) => `${paths.pods(namespace, name)}/eviction`,
  tokenReviews: () => '/apis/authentication.k8s.io/v1/tokenreviews',
  subjectAccessReviews: () => '/apis/authorization.k8s.io/v1/subjectaccessreviews',
};
