/**
 * `meshcp agent` (SPEC §3): keeps a proxyless gRPC app's certificate files current. gRPC rejects
 * SDS, so the app's xDS TLS contexts name a `file_watcher` certificate provider
 * (bootstrap/grpc.ts); the agent connects as the same node (same name, mesh and token, flavor
 * grpc), subscribes over ADS to the two identity Secrets of identity/names.ts, and writes
 * cert.pem, key.pem and ca.pem on the first answer and at every rotation or trust bundle change.
 *
 * The agent's stream and the app's share the node id, so the control plane issues one identity
 * for both, and forgets it only when both are gone. The key is written to key.pem (0600) and
 * nowhere else: never logged.
 */
import * as grpc from '@grpc/grpc-js';
import { certificateInfo } from '../ca/cert-info.js';
import { keyMatchesCertificate, parseCertificates } from '../ca/pem.js';
import { identityCertificateSecretName, meshTrustBundleSecretName } from '../identity/names.js';
import { writeCertFiles, type CertFiles } from './cert-files.js';
import { xdsConnectHint } from './connect-hints.js';
import { SdsStream, type SecretsResponse } from './sds-client.js';
import { DEFAULT_BACKOFF, ReconnectBackoff, addressListOf, type XdsAddressList } from './xds-addresses.js';

export interface AgentLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AgentOptions {
  readonly name: string;
  readonly mesh: string;
  readonly token: string;
  readonly certDir: string;
  /**
   * meshcp's xDS address, or several replicas' (the first reachable one is used, the next one
   * when its stream fails); a list shared with the agent's XdsProxy keeps both on one replica.
   */
  readonly xdsAddress: string | readonly string[] | XdsAddressList;
  readonly log: AgentLogger;
  /**
   * Reconnect backoff after a stream ends: starts at `initialMs`, doubles up to `maxMs`. A stream
   * that was answered moves to the next of several addresses at once (xds-addresses.ts).
   */
  readonly reconnect?: { readonly initialMs: number; readonly maxMs: number };
  readonly credentials?: grpc.ChannelCredentials;
  /** The --xds-ca-cert file the credentials trust: named in the hint when meshcp's certificate does not verify. */
  readonly caCertFile?: string;
}

/** The control plane refused the token: retrying cannot help. */
export class AgentAuthError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'AgentAuthError';
  }
}

export interface RunningAgent {
  /** Resolves once the three files have been written the first time; rejects like `done` when the token is refused. */
  readonly ready: Promise<void>;
  /** Resolves after `stop()`; rejects with AgentAuthError when the token is refused. */
  readonly done: Promise<void>;
  /** Serial of the certificate in cert.pem, once written. */
  serial(): string | undefined;
  stop(): void;
}

const REFUSED = new Set<number>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/** The files a response carries, or why it carries none. */
function filesOf(response: SecretsResponse, mesh: string): { files?: CertFiles; problem?: string; missing?: boolean } {
  const cert = response.secrets.get(identityCertificateSecretName(mesh));
  const bundle = response.secrets.get(meshTrustBundleSecretName(mesh));
  if (!cert?.certificateChain || !cert.privateKey || !bundle?.trustedCa) return { missing: true };
  try {
    const [leaf] = parseCertificates(cert.certificateChain);
    if (!leaf || !keyMatchesCertificate(cert.privateKey, leaf)) return { problem: 'the identity secret key does not match its certificate' };
    parseCertificates(bundle.trustedCa);
  } catch (err) {
    return { problem: `malformed identity secret: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { files: { certChainPem: cert.certificateChain, keyPem: cert.privateKey, caPem: bundle.trustedCa } };
}

export function startAgent(options: AgentOptions): RunningAgent {
  const { log, mesh, name } = options;
  const addresses = addressListOf(options.xdsAddress);
  const backoff = new ReconnectBackoff(options.reconnect ?? DEFAULT_BACKOFF, addresses.all.length);
  const names = [identityCertificateSecretName(mesh), meshTrustBundleSecretName(mesh)];
  let stream: SdsStream | undefined;
  let stopped = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let currentSerial: string | undefined;
  let currentBundle: string | undefined;
  let warnedMissing = false;
  let writing: Promise<void> = Promise.resolve();
  let resolveReady: () => void = () => undefined;
  let rejectReady: (err: Error) => void = () => undefined;
  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Either may be left unawaited by a caller that only waits on the other.
  ready.catch(() => undefined);
  done.catch(() => undefined);

  const apply = async (current: SdsStream, response: SecretsResponse): Promise<void> => {
    const { files, problem, missing } = filesOf(response, mesh);
    if (missing) {
      if (!warnedMissing) log.warn({ node: name, mesh }, `no workload certificate for this proxy yet: it needs mTLS enabled in mesh "${mesh}" and a Dataplane named "${name}"`);
      warnedMissing = true;
      current.ack(response);
      return;
    }
    if (!files) {
      log.error({ node: name, mesh, problem }, 'refused the identity secrets (NACK)');
      current.nack(response, problem ?? 'invalid identity secrets');
      return;
    }
    try {
      await writeCertFiles(options.certDir, files);
    } catch (err) {
      const reason = `cannot write the certificate files in ${options.certDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      log.error({ node: name, mesh }, reason);
      current.nack(response, reason);
      return;
    }
    const info = certificateInfo(files.certChainPem);
    if (info.serialHex !== currentSerial) {
      log.info(
        { node: name, mesh, serial: info.serialHex, ...(currentSerial !== undefined ? { previousSerial: currentSerial } : {}), spiffeIds: info.uris, notAfter: info.notAfter.toISOString(), certDir: options.certDir },
        currentSerial === undefined ? 'wrote the workload certificate' : 'rotated the workload certificate',
      );
      currentSerial = info.serialHex;
    }
    if (files.caPem !== currentBundle) {
      if (currentBundle !== undefined) log.info({ node: name, mesh, roots: parseCertificates(files.caPem).length }, 'updated the mesh trust bundle');
      currentBundle = files.caPem;
    }
    warnedMissing = false;
    current.ack(response);
    resolveReady();
  };

  const connect = (): void => {
    if (stopped) return;
    const address = addresses.current();
    let answered = false;
    const current = new SdsStream(
      address,
      { id: name, cluster: mesh, metadata: { mesh, token: options.token, flavor: 'grpc' } },
      names,
      {
        onResponse: (response) => {
          answered = true;
          backoff.answered();
          // Responses are applied in order, one at a time.
          writing = writing.then(() => (stream === current ? apply(current, response) : undefined));
        },
        onEnd: (status) => {
          if (stopped || stream !== current) return;
          current.close();
          stream = undefined;
          if (REFUSED.has(status.code)) {
            stopped = true;
            const error = new AgentAuthError(status.code, `meshcp refused this agent (${grpc.status[status.code] ?? status.code}): ${status.details}`);
            rejectReady(error);
            rejectDone(error);
            return;
          }
          // Any replica serves any proxy (SPEC §5): the next attempt goes to the next address.
          const next = addresses.failed(address);
          const retryInMs = backoff.next(answered);
          const hint = xdsConnectHint(status.details, options.caCertFile);
          log.warn(
            { node: name, mesh, xdsAddress: address, code: grpc.status[status.code] ?? status.code, details: status.details, retryInMs, next, ...(hint !== undefined ? { hint } : {}) },
            hint !== undefined ? `xDS stream ended; reconnecting: ${hint}` : 'xDS stream ended; reconnecting',
          );
          reconnectTimer = setTimeout(connect, retryInMs);
        },
      },
      options.credentials,
    );
    stream = current;
  };

  connect();
  return {
    ready,
    done,
    serial: () => currentSerial,
    stop() {
      if (stopped) return;
      stopped = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      stream?.close();
      stream = undefined;
      writing.then(resolveDone, resolveDone);
    },
  };
}
