// Certificates for the local control plane, made with the openssl CLI (Node's crypto cannot sign X.509).
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_IP, NODE_NAME, SERVICE_API_IP } from '../realnode/host.ts';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function signedCert(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '3650', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

/** Creates (once) a CA, the API server's serving cert, an admin client cert and the service-account key pair. */
export function ensurePki(dir: string): void {
  if (existsSync(join(dir, 'sa.pub')) && existsSync(join(dir, 'kubelet-client.crt'))) return;
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650',
    '-subj', '/CN=chaosrun-local-ca'], dir);
  signedCert(dir, 'apiserver', '/CN=kube-apiserver',
    `subjectAltName=IP:127.0.0.1,IP:${SERVICE_API_IP},IP:${NODE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n` +
    'extendedKeyUsage=serverAuth\n');
  signedCert(dir, 'admin', '/O=system:masters/CN=admin', 'extendedKeyUsage=clientAuth\n');
  // The real node's identities: the kubelet (Node authorizer + NodeRestriction), kube-proxy (bound to
  // system:node-proxier by default), and the API server's client for kubectl logs/exec.
  signedCert(dir, 'node', `/O=system:nodes/CN=system:node:${NODE_NAME}`, 'extendedKeyUsage=clientAuth\n');
  signedCert(dir, 'kube-proxy', '/CN=system:kube-proxy', 'extendedKeyUsage=clientAuth\n');
  signedCert(dir, 'kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'extendedKeyUsage=clientAuth\n');
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}
