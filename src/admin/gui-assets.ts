/**
 * The web GUI's built files (`npm run build` writes them to dist/gui/), served read-only at
 * `/gui/` by the admin API, behind the same Host check and mTLS as every other path.
 *
 * The browser runs only what this server sent: a Content-Security-Policy without inline script
 * or style and with no other origin, so the page makes no external request and works offline;
 * it may not be framed (clickjacking), sends no Referer, and is isolated from other windows.
 * Only the files listed in the build's manifest are served, from memory, so no request path
 * reaches the file system.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

/** Written by scripts/gui-build.mjs next to the built files: their names and sizes. */
export const GUI_MANIFEST = 'meshcp-gui.json';

export const GUI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every GUI response. */
export const GUI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': GUI_CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer;
  readonly contentType: string;
  /** Vite names built assets by content hash: they never change under the same name. */
  readonly immutable: boolean;
}

export type GuiAssetsResult = { readonly ok: true; readonly assets: GuiAssets } | { readonly ok: false; readonly unavailable: string };

export class GuiAssets {
  private constructor(private readonly files: ReadonlyMap<string, Asset>) {}

  /** Reads the built GUI in `dir` (the files its manifest lists). */
  static load(dir: string): GuiAssetsResult {
    let manifest: { files?: Record<string, unknown> };
    try {
      manifest = JSON.parse(fs.readFileSync(path.join(dir, GUI_MANIFEST), 'utf8')) as typeof manifest;
    } catch (err) {
      return { ok: false, unavailable: `the web GUI is not built (${path.join(dir, GUI_MANIFEST)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); run npm run build` };
    }
    const files = new Map<string, Asset>();
    for (const name of Object.keys(manifest.files ?? {})) {
      const contentType = CONTENT_TYPES[path.extname(name)];
      // The manifest is ours, but a name that climbs out of the directory is never served.
      if (contentType === undefined || name.split('/').some((part) => part === '..' || part === '')) continue;
      const body = fs.readFileSync(path.join(dir, name));
      files.set(name, { body, gzip: zlib.gzipSync(body, { level: 9 }), contentType, immutable: name.startsWith('assets/') });
    }
    if (!files.has('index.html')) return { ok: false, unavailable: `the web GUI in ${dir} has no index.html; run npm run build` };
    return { ok: true, assets: new GuiAssets(files) };
  }

  /** `rel` is the path below `/gui/` ('' for the page itself); false when there is no such file. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, rel: string): boolean {
    const asset = this.files.get(rel === '' ? 'index.html' : rel);
    if (!asset) return false;
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip : asset.body;
    res.writeHead(200, {
      ...GUI_SECURITY_HEADERS,
      'content-type': asset.contentType,
      'content-length': body.length,
      'cache-control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}

/**
 * Where `npm run build` put the GUI, seen from this module: dist/src/admin → dist/gui when built
 * or installed, src/admin → dist/gui in a checkout (tests run the sources).
 */
export function defaultGuiDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../gui'), path.resolve(here, '../../dist/gui')];
  return candidates.find((dir) => fs.existsSync(path.join(dir, GUI_MANIFEST))) ?? candidates[candidates.length - 1]!;
}
