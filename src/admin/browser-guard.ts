/**
 * Browsers. Any web page can make a browser send requests to the admin API: a "simple"
 * cross-origin POST (text/plain, no preflight) would apply resources, and DNS rebinding (a hostile
 * name re-pointed at 127.0.0.1) makes the page same-origin with the API, so it can read everything.
 * Hence: the Host header must name this server (the rebinding page sends its own name), writes with
 * a foreign Origin are refused, and writes must be JSON or YAML, which a page cannot send
 * cross-origin without a CORS preflight that this server never answers
 * (https://fetch.spec.whatwg.org/#cors-safelisted-request-header).
 */
import type http from 'node:http';
import { singleLine } from '../api/errors.js';
import type { Logger } from '../log/logger.js';
import { splitHostHeader } from './binding.js';
import { HttpError } from './http-error.js';

/** Content types a write may have: JSON (including `+json` types such as FILES_CONTENT_TYPE) or YAML. */
const WRITE_CONTENT_TYPES = new Set(['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class BrowserGuard {
  private port = 0;
  private allowedHosts: ReadonlySet<string> = new Set();

  constructor(
    private readonly log: Logger,
    private readonly tls: boolean,
  ) {}

  /** Where the server listens, once it does: the Host and Origin headers must name it. */
  bind(port: number, allowedHosts: ReadonlySet<string>): void {
    this.port = port;
    this.allowedHosts = allowedHosts;
  }

  /** Refuses DNS-rebound, cross-origin and non-JSON/YAML requests (see the file comment); each refusal is logged once. */
  check(req: http.IncomingMessage, method: string, url: URL): void {
    const refuse = (status: number, reason: string, message: string): never => {
      this.log.warn({ method, path: url.pathname, reason }, 'admin API request refused');
      throw new HttpError(status, message);
    };
    const host = req.headers.host;
    if (host === undefined || !this.hostAllowed(host)) {
      refuse(
        421,
        'host',
        `Host header ${JSON.stringify(singleLine(host ?? '').slice(0, 100))} does not name this admin API (use 127.0.0.1:${this.port} or localhost:${this.port}, or add the name with serve --admin-hostname)`,
      );
    }
    if (!WRITE_METHODS.has(method)) return;
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin)) {
      refuse(403, 'origin', `cross-origin write refused: Origin ${JSON.stringify(singleLine(origin).slice(0, 100))} is not this admin API; use meshcp or curl, not a web page`);
    }
    const fetchSite = req.headers['sec-fetch-site'];
    if (fetchSite === 'cross-site' || fetchSite === 'same-site') refuse(403, 'sec-fetch-site', `cross-site write refused (Sec-Fetch-Site: ${fetchSite}); use meshcp or curl, not a web page`);
    // A write without a body carries nothing to apply (and routing answers it, e.g. with 405).
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? '0') > 0;
    if (method === 'DELETE' || !hasBody) return;
    const contentType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
    if (!WRITE_CONTENT_TYPES.has(contentType) && !/^application\/[a-z0-9.+-]+\+json$/.test(contentType)) {
      refuse(415, 'content-type', `unsupported content type ${JSON.stringify(contentType.slice(0, 100))}: send application/json or application/yaml`);
    }
  }

  private hostAllowed(header: string): boolean {
    const parsed = splitHostHeader(header);
    if (!parsed) return false;
    const defaultPort = this.tls ? 443 : 80;
    if ((parsed.port ?? defaultPort) !== this.port) return false;
    return this.allowedHosts.has(parsed.host.toLowerCase());
  }

  private originAllowed(origin: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      return false; // includes the opaque origin "null"
    }
    const scheme = this.tls ? 'https:' : 'http:';
    return parsed.protocol === scheme && parsed.pathname === '/' && this.hostAllowed(parsed.host);
  }
}
