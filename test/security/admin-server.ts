/** The real `serve` path (startServer) on 127.0.0.1 port 0 for the security tests, and raw HTTP requests whose headers a browser would set. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../src/cli/serve.js';
import type { Logger } from '../../src/log/logger.js';
import { bufferLogger } from '../helpers/log-buffer.js';

export interface TestServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly configDir: string;
  readonly server: RunningServer;
  readonly url: string;
  readonly port: number;
  /** Every log line the server wrote so far. */
  logText(): string;
  stop(): Promise<void>;
  /** Stops the server and starts a new one on the same data directory and config. */
  restart(): Promise<TestServer>;
}

export interface TestServerOptions {
  readonly configYaml?: string;
  readonly dir?: string;
  readonly adminHostname?: readonly string[];
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'meshcp-sec-'));
  const dataDir = path.join(dir, 'data');
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(configDir, { recursive: true });
  if (options.configYaml !== undefined) fs.writeFileSync(path.join(configDir, 'config.yaml'), options.configYaml);
  const { log, text } = bufferLogger('debug');
  const server = await startServer(
    {
      config: [configDir],
      dataDir,
      xdsAddress: '127.0.0.1:0',
      adminAddress: '127.0.0.1:0',
      auth: 'none',
      xdsPlaintext: true,
      ...(options.adminHostname ? { adminHostname: options.adminHostname } : {}),
    },
    log as Logger,
  );
  const url = server.adminUrl;
  const port = Number(new URL(url).port);
  const stop = async (): Promise<void> => {
    await server.close();
  };
  return {
    dir,
    dataDir,
    configDir,
    server,
    url,
    port,
    logText: text,
    stop,
    async restart() {
      await stop();
      return startTestServer({ ...options, dir, configYaml: undefined });
    },
  };
}

export interface RawReply {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** An HTTP request with exactly these headers (fetch would not let a test set Host). */
export function rawRequest(port: number, request: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const body = request.body;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.path,
        headers: { ...(body !== undefined && request.headers?.['transfer-encoding'] === undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...request.headers },
        setHost: request.headers?.['host'] === undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The `errors` of an error reply. */
export function errorsOf(reply: RawReply): string[] {
  const errors = reply.json['errors'];
  return Array.isArray(errors) ? errors.map(String) : [];
}

/** Every file under `dir` with its content: to assert "nothing changed". */
export function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full, 'utf8');
    }
  };
  walk(dir);
  return out;
}
