// GET /ui: the console's page and its two assets, served by the signal server itself (nothing from a
// CDN, no third-party origin, so it works behind kubectl port-forward and offline). The files in ui/ are
// the bundle as the browser runs them: no build step, so `npm ci` reproduces it byte for byte. Read once
// at start; every answer carries a strict Content-Security-Policy (only this origin, no inline code).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router, type Request, type Response } from 'express';

export const CONSOLE_PATH = '/ui';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const UI_DIR = join(import.meta.dirname, 'ui');
/** The bundle: file name under /ui/ and its content type. */
export const ASSETS = { 'app.js': 'text/javascript', 'app.css': 'text/css', 'favicon.svg': 'image/svg+xml' } as const;

interface Asset { body: Buffer; type: string; etag: string }
const load = (file: string, type: string): Asset => {
  const body = readFileSync(join(UI_DIR, file));
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
};

/** The console's routes; the page knows the auth mode so it can ask for a token before the first call. */
export function consoleRouter(authMode: 'kubernetes' | 'none'): Router {
  const page = load('index.html', 'text/html; charset=utf-8');
  const html = page.body.toString('utf8').replace('data-auth=""', `data-auth="${authMode}"`);
  const index: Asset = { ...page, body: Buffer.from(html), etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 22)}"` };
  const assets = new Map(Object.entries(ASSETS).map(([file, type]) => [file, load(file, type)]));

  const serve = (asset: Asset) => (req: Request, res: Response) => {
    res.set({ ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Cache-Control': 'no-cache', ETag: asset.etag });
    if (req.get('if-none-match') === asset.etag) { res.status(304).end(); return; }
    res.send(asset.body);
  };
  const router = Router({ caseSensitive: true, strict: true });
  router.get(CONSOLE_PATH, serve(index));
  router.get(`${CONSOLE_PATH}/`, (_req, res) => { res.redirect(301, CONSOLE_PATH); });
  for (const [file, asset] of assets) router.get(`${CONSOLE_PATH}/${file}`, serve(asset));
  return router;
}
