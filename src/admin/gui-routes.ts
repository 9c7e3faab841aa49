/**
 * The admin API paths the web GUI adds (SPEC §3 "a read-only web GUI at /gui/"), all GET:
 *
 *   GET /gui/                                      the GUI (gui-assets.ts)
 *   GET /api/events                                live updates, server-sent events (live-events.ts)
 *   GET /api/inspect/meshes[?mesh=M]               each mesh at a glance (mesh-overview.ts)
 *   GET /api/inspect/services[?mesh=M]             who may call whom (service-graph.ts)
 *   GET /api/inspect/gateways[?mesh=M]             routes, server certificates, client CAs (gateway-views.ts)
 *   GET /api/inspect/secrets[?mesh=M]              secret summaries and who uses them (gateway-views.ts)
 *   GET /api/inspect/dataplanes/{name}/permissions[?mesh=M]   who may call that proxy (service-graph.ts)
 *
 * None changes state. The GUI's one other call, `POST /api/cert-check`, is the CLI's `cert check`:
 * a read that carries a certificate (never stored) and passes the admin API's write checks as
 * any same-origin JSON request does, without an exemption.
 */
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Resource } from '../api/types.js';
import { gatewayViews, secretViews } from './gateway-views.js';
import type { GuiAssetsResult } from './gui-assets.js';
import { GUI_SECURITY_HEADERS } from './gui-assets.js';
import { HttpError } from './http-error.js';
import type { LiveFeed } from './live-events.js';
import { meshOverviews, type MeshViewSources } from './mesh-overview.js';
import { dataplanePermissions, serviceGraph } from './service-graph.js';

export interface GuiRoutesOptions {
  readonly assets?: GuiAssetsResult;
  readonly live?: LiveFeed;
  readonly views?: MeshViewSources;
  /** Whether the admin API requires client certificates: the GUI says so when it loses the server. */
  readonly mtls: boolean;
}

function sendJson(res: http.ServerResponse, body: Record<string, unknown>): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function onlyGet(method: string): void {
  if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `method ${method} not allowed here; use GET`);
}

/** The subject of the client certificate the request came with (admin mTLS), for the GUI's header. */
function clientSubject(req: http.IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert.subject?.CN;
  return typeof cn === 'string' ? `CN=${cn}` : undefined;
}

export class GuiRoutes {
  constructor(private readonly options: GuiRoutesOptions) {}

  /** Answers the request when the path is one of the GUI's; false otherwise (the caller routes it). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, method: string, segments: readonly string[], url: URL): boolean {
    const [first, second, third, fourth, fifth, ...rest] = segments;
    if (first === 'gui') return this.gui(req, res, method, segments.slice(1), url);
    if (first !== 'api') return false;
    if (second === 'events' && third === undefined && this.options.live) {
      onlyGet(method);
      if (!this.options.live.attach(req, res)) throw new HttpError(503, 'too many live GUI connections to this admin API; close a GUI tab and retry');
      return true;
    }
    const views = this.options.views;
    if (second !== 'inspect' || !views) return false;
    const mesh = url.searchParams.get('mesh') ?? undefined;
    if (third === 'dataplanes' && fourth !== undefined && fifth === 'permissions' && rest.length === 0) {
      onlyGet(method);
      const meshName = mesh ?? 'default';
      const found = dataplanePermissions(views.inspect.resources(), meshName, fourth);
      if (!found) throw new HttpError(404, `no Dataplane "${fourth}" in mesh "${meshName}"`);
      sendJson(res, { ...found });
      return true;
    }
    if (fourth !== undefined) return false;
    const resources = (): readonly Resource[] => views.inspect.resources();
    switch (third) {
      case 'meshes': {
        onlyGet(method);
        const items = meshOverviews(views, mesh);
        const subject = clientSubject(req);
        sendJson(res, { items, total: items.length, generatedAt: new Date().toISOString(), adminApi: { mtls: this.options.mtls, ...(subject !== undefined ? { clientCertificate: subject } : {}) } });
        return true;
      }
      case 'services': {
        onlyGet(method);
        const meshes = resources().filter((r) => r.type === 'Mesh' && (mesh === undefined || r.name === mesh)).map((r) => r.name).sort();
        if (mesh !== undefined && meshes.length === 0) throw new HttpError(404, `no mesh "${mesh}"`);
        const items = meshes.map((m) => serviceGraph(resources(), m));
        sendJson(res, { items, total: items.length });
        return true;
      }
      case 'gateways': {
        onlyGet(method);
        const items = gatewayViews(views, mesh);
        sendJson(res, { items, total: items.length, generatedAt: new Date().toISOString() });
        return true;
      }
      case 'secrets': {
        onlyGet(method);
        const items = secretViews(views, mesh);
        sendJson(res, { items, total: items.length, generatedAt: new Date().toISOString() });
        return true;
      }
      default:
        return false;
    }
  }

  private gui(req: http.IncomingMessage, res: http.ServerResponse, method: string, rest: readonly string[], url: URL): boolean {
    onlyGet(method);
    const assets = this.options.assets;
    if (!assets) throw new HttpError(404, 'the web GUI is not enabled');
    if (!assets.ok) throw new HttpError(404, assets.unavailable);
    // `/gui` → `/gui/`, so the page's relative asset paths resolve below it.
    if (rest.length === 0 && !url.pathname.endsWith('/')) {
      res.writeHead(308, { ...GUI_SECURITY_HEADERS, location: '/gui/' });
      res.end();
      return true;
    }
    if (!assets.assets.serve(req, res, rest.join('/'))) throw new HttpError(404, `no such file ${url.pathname} in the web GUI`);
    return true;
  }
}
