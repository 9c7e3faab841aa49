/** The admin API's HTTP plumbing: request URLs and bodies in, JSON and text out, method checks. */
import type http from 'node:http';
import { HttpError } from './http-error.js';

/** The largest request body (README "Security model"): a bigger apply is refused with 413 before it is parsed. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

const TOO_LARGE = `request body larger than ${MAX_BODY_BYTES / (1024 * 1024)} MiB; split the apply into several files or batches`;

export type Json = Record<string, unknown>;

/** The content type of an apply of several named files, `{files:[{name,content}]}` (`meshcp apply -f a.yaml -f b.yaml`): the client and the server spell it here. */
export const FILES_CONTENT_TYPE = 'application/vnd.meshcp.files+json';

/** 405 unless `method` is one of `methods`. */
export function allow(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new HttpError(405, `method ${method} not allowed here; use ${methods.join(' or ')}`);
}

/** The body as text; 413 as soon as it is known to exceed MAX_BODY_BYTES (declared or read). */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, TOO_LARGE);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, TOO_LARGE);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The body parsed as JSON; 400 with `expected` (what the route takes) when it is not JSON. */
export async function readJsonBody(req: http.IncomingMessage, expected: string): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new HttpError(400, `expected a JSON body ${expected}: ${(err as Error).message}`);
  }
}

/** The path's segments, decoded; a malformed URL or percent-encoding is the client's error (400), not a 500. */
export function parseRequestUrl(raw: string | undefined): { url: URL; segments: string[] } {
  let url: URL;
  try {
    url = new URL(raw ?? '/', 'http://admin');
  } catch {
    throw new HttpError(400, 'malformed request URL');
  }
  try {
    return { url, segments: url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent) };
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the URL path ${JSON.stringify(url.pathname.slice(0, 200))}`);
  }
}

export function send(res: http.ServerResponse, status: number, body: Json): void {
  if (res.headersSent) return;
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(text);
}
