/**
 * `meshcp serve` (SPEC §3): parses the flags, starts the runtime (runtime/root.ts: the store,
 * the `--config` files and the sources that merge them, the control plane) and puts the admin API
 * on top, which writes to the store.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../api/duration.js';
import { builtinCaCertificatePem, caCertificatePem, caSecretViews, meshCaCertificatePem } from '../admin/ca-secrets.js';
import { ResourceApi } from '../admin/resource-api.js';
import { checkAdminBinding, type AdminTlsOptions } from '../admin/binding.js';
import { AdminServer } from '../admin/server.js';
import { defaultGuiDir, GuiAssets } from '../admin/gui-assets.js';
import {
  checkServingFiles,
  fileServerCredentials,
  loadOrCreateControlPlaneCa,
  providerServerCredentials,
  XdsServingCertificate,
  type XdsServingCertificateOptions,
} from '../ca/control-plane-ca.js';
import type { BlobStore } from '../ca/providers/builtin.js';
import type { FileConfigSource } from '../sources/config-files.js';
import type { ControlPlane } from '../runtime/control-plane.js';
import { createLogger, type Logger } from '../log/logger.js';
import { meshCasInUse } from '../runtime/metrics.js';
import type { ResourceSources } from '../sources/resource-sources.js';
import type { StoreOptions } from '../runtime/open-store.js';
import { startRuntime, type XdsTls } from '../runtime/root.js';
import type { Store } from '../store/store.js';
import { fileFlagError, listenOn } from './flag-errors.js';
import { addXdsLimitFlags, xdsLimitsFromFlags } from './xds-limit-flags.js';
import type { XdsLimits } from '../xds/limits.js';

export interface ServeOptions extends Omit<StoreOptions, 'dataDir'> {
  readonly config: readonly string[];
  readonly dataDir: string;
  readonly xdsAddress: string;
  readonly adminAddress: string;
  readonly auth: string;
  readonly adminTlsCert?: string;
  readonly adminTlsKey?: string;
  readonly adminClientCa?: string;
  /** Extra names clients use for the admin API, accepted in the Host header (DNS-rebinding defence). */
  readonly adminHostname?: readonly string[];
  /** Serve xDS without TLS (development only; SPEC §2 "xDS is TLS by default"). */
  readonly xdsPlaintext?: boolean;
  /** Extra DNS names / IPs for the xDS serving certificate (besides localhost and 127.0.0.1). */
  readonly xdsHostname?: readonly string[];
  /** User-provided xDS serving certificate and key (PEM files) instead of the control-plane CA's. */
  readonly xdsTlsCert?: string;
  readonly xdsTlsKey?: string;
  /** How long a Dataplane's proxy may be disconnected before its endpoints are reported unhealthy (`--offline-grace`, default 10s). */
  readonly offlineGrace?: string;
  /** Where the built web GUI is (tests); default: dist/gui of this installation. */
  readonly guiDir?: string;
  /** Tests: lifetime, clock and timer of the issued serving certificate. */
  readonly xdsServingCert?: Pick<XdsServingCertificateOptions, 'validitySeconds' | 'now' | 'setTimer'>;
  /** What one xDS caller may cost (xds/limits.ts); over the `--xds-max-*` flags, which are read too. */
  readonly xdsLimits?: Partial<XdsLimits>;
}

export interface RunningServer {
  readonly adminUrl: string;
  readonly xdsAddress: string;
  readonly store: Store;
  readonly config: FileConfigSource;
  readonly sources: ResourceSources;
  readonly controlPlane: ControlPlane;
  readonly admin: AdminServer;
  /** The CA clients verify the xDS server with; undefined with --xds-plaintext or --xds-tls-cert. */
  readonly xdsCaPem?: string;
  /** The issued, rotating xDS serving certificate; undefined with --xds-plaintext or --xds-tls-cert. */
  readonly xdsServingCertificate?: XdsServingCertificate;
  isReady(): boolean;
  close(): Promise<void>;
}

function readFileOption(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fileFlagError(flag, file, err);
  }
}

function adminTls(options: ServeOptions): AdminTlsOptions | undefined {
  const { adminTlsCert, adminTlsKey, adminClientCa } = options;
  if (adminTlsCert === undefined && adminTlsKey === undefined) {
    if (adminClientCa !== undefined) throw new Error('--admin-client-ca needs --admin-tls-cert and --admin-tls-key');
    return undefined;
  }
  if (adminTlsCert === undefined || adminTlsKey === undefined) throw new Error('--admin-tls-cert and --admin-tls-key go together');
  return {
    cert: readFileOption(adminTlsCert, '--admin-tls-cert'),
    key: readFileOption(adminTlsKey, '--admin-tls-key'),
    ...(adminClientCa !== undefined ? { clientCa: readFileOption(adminClientCa, '--admin-client-ca') } : {}),
  };
}

/**
 * SPEC §2 "xDS is TLS by default": the user's certificate files, else one issued from the
 * control-plane CA kept in the store; plaintext only when asked for.
 */
async function xdsTls(options: ServeOptions, store: BlobStore, log: Logger): Promise<XdsTls> {
  const { xdsTlsCert, xdsTlsKey, xdsPlaintext, xdsHostname = [] } = options;
  if (xdsPlaintext) {
    if (xdsTlsCert !== undefined || xdsTlsKey !== undefined) throw new Error('--xds-plaintext cannot be combined with --xds-tls-cert/--xds-tls-key: drop one of them');
    log.warn('!!! --xds-plaintext: xDS is served WITHOUT TLS; dataplane tokens and workload private keys cross the network in clear. For local development only. !!!');
    return { mode: 'plaintext', noCa: 'xDS is served in plaintext (--xds-plaintext): there is no xDS CA; bootstrap proxies with --xds-plaintext' };
  }
  if (xdsTlsCert !== undefined || xdsTlsKey !== undefined) {
    if (xdsTlsCert === undefined || xdsTlsKey === undefined) throw new Error('--xds-tls-cert and --xds-tls-key go together');
    checkServingFiles(readFileOption(xdsTlsCert, '--xds-tls-cert'), readFileOption(xdsTlsKey, '--xds-tls-key'), xdsTlsCert, xdsTlsKey);
    return {
      mode: 'files',
      credentials: fileServerCredentials(xdsTlsCert, xdsTlsKey),
      noCa: 'xDS serves the certificate of --xds-tls-cert, whose CA meshcp does not know: give that CA to `meshcp bootstrap envoy --xds-ca-cert FILE` and `meshcp agent --xds-ca-cert FILE`',
    };
  }
  const ca = await loadOrCreateControlPlaneCa(store);
  const serving = new XdsServingCertificate({ ca, hostnames: xdsHostname, log: log.child({ component: 'xds-tls' }), ...options.xdsServingCert });
  await serving.start();
  return { mode: 'control-plane-ca', credentials: providerServerCredentials(serving), caPem: ca.certPem, serving };
}

const DEFAULT_OFFLINE_GRACE = '10s';

/** Starts everything; rejects (after releasing what it opened) when the store or the initial config is invalid. */
export async function startServer(options: ServeOptions, log: Logger): Promise<RunningServer> {
  if (options.auth !== 'token' && options.auth !== 'none') throw new Error(`--auth must be "token" or "none", not "${options.auth}"`);
  if (options.auth === 'none') {
    log.warn('!!! --auth none: proxies are NOT authenticated; any client can fetch any identity, server key and secret. For local development only. !!!');
  }
  const tls = adminTls(options);
  const xdsLimits = { ...xdsLimitsFromFlags(options as unknown as Record<string, unknown>), ...options.xdsLimits };
  // Off loopback the admin API must authenticate its clients (mTLS).
  const adminBinding = checkAdminBinding(options.adminAddress, tls);
  if (adminBinding !== undefined) log.warn(adminBinding);
  const offlineGraceSeconds = parseDuration(options.offlineGrace ?? DEFAULT_OFFLINE_GRACE);
  if (offlineGraceSeconds === undefined) throw new Error(`--offline-grace "${options.offlineGrace}": expected a duration such as 10s or 1m`);
  // SPEC §5: the data directory, or etcd (--store etcd://…) shared by several replicas; the
  // sources, the control plane and everything under it (runtime/root.ts).
  const runtime = await startRuntime(
    {
      ...options,
      auth: options.auth,
      offlineGraceMs: offlineGraceSeconds * 1000,
      xdsLimits,
      xdsTls: (store) => xdsTls(options, store, log),
    },
    log,
  );
  const { store, config, sources, controlPlane, keyring, sharedStatus, metrics, served } = runtime;
  const xds = runtime.xdsTls;
  const cleanups: (() => Promise<void> | void)[] = [() => runtime.close()];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn();
  };
  try {
    let ready = false;
    const api = new ResourceApi({
      store,
      sources,
      systemSecrets: (mesh, now) => caSecretViews(controlPlane.identities.builtinCas(), now, mesh),
      meshCertificate: (mesh) => meshCaCertificatePem(controlPlane.identities.cas, served(), mesh),
      systemCertificate: async (mesh, name) => caCertificatePem(controlPlane.identities.builtinCas(), mesh, name) ?? (await builtinCaCertificatePem(controlPlane.identities.cas, served(), mesh, name)),
    });
    const gui = GuiAssets.load(options.guiDir ?? defaultGuiDir());
    const admin = new AdminServer({
      api,
      identities: controlPlane.identities,
      log: log.child({ component: 'admin' }),
      isReady: () => ready,
      // SPEC §5: while etcd is unreachable the last good config is served, but /readyz says why.
      unready: () => store.unavailable?.(),
      metrics,
      inspect: { resources: served, proxies: sharedStatus ?? controlPlane.status, identities: controlPlane.identities, snapshots: controlPlane.cache },
      servedResources: served,
      hostnames: options.adminHostname ?? [],
      xdsCa: () => (xds.caPem !== undefined ? { pem: xds.caPem } : { unavailable: xds.noCa ?? 'no xDS CA' }),
      // `meshcp token generate --server` (SPEC §3): the key proxies' tokens are verified with.
      tokens: keyring,
      // The read-only web GUI (SPEC §3 `/gui/`): built files, live feed, and the views it reads.
      gui,
      live: { status: controlPlane.status.events, resources: sources.changes, certificate: (mesh, name) => controlPlane.identities.getStatus(mesh, name) },
      views: { identities: controlPlane.identities, meshCas: () => meshCasInUse(controlPlane.identities, served()) },
      ...(tls ? { tls } : {}),
    });
    const { url: adminUrl } = await listenOn('--admin-address', options.adminAddress, admin.listen(options.adminAddress));
    cleanups.push(() => admin.close());
    const xdsPort = await listenOn('--xds-address', options.xdsAddress, controlPlane.listen(options.xdsAddress));
    const xdsAddress = options.xdsAddress.replace(/:\d+$/, `:${xdsPort}`);
    ready = true;
    if (!gui.ok) log.warn(gui.unavailable);
    log.info({ xds: xdsAddress, admin: adminUrl, ...(gui.ok ? { gui: `${adminUrl}/gui/` } : {}), store: runtime.opened.description, config: options.config, adminMtls: tls?.clientCa !== undefined, auth: options.auth, xdsTls: xds.mode }, 'meshcp is serving');
    return {
      adminUrl,
      xdsAddress,
      store,
      config,
      sources,
      controlPlane,
      admin,
      ...(xds.caPem !== undefined ? { xdsCaPem: xds.caPem } : {}),
      ...(xds.serving ? { xdsServingCertificate: xds.serving } : {}),
      isReady: () => ready,
      close: async () => {
        ready = false;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description('Run the control plane: serve xDS (ADS and per-type, SotW and Delta) and the admin API')
    .option('--config <path>', 'resource file or directory (repeatable); watched and hot-reloaded; wins over API-applied resources of the same name', collect, [])
    .option('--data-dir <dir>', 'embedded store directory (resources applied through the API, CA material)', './.meshcp')
    .option('--xds-address <host:port>', 'xDS gRPC listen address', '0.0.0.0:5678')
    .option('--admin-address <host:port>', 'admin HTTP API listen address', '127.0.0.1:5681')
    .option('--admin-tls-cert <file>', 'serve the admin API over HTTPS with this certificate (PEM)')
    .option('--admin-tls-key <file>', 'key of --admin-tls-cert')
    .option('--admin-client-ca <file>', 'require admin API clients to present a certificate signed by this CA (mTLS)')
    .option('--admin-hostname <name>', 'a name clients use to reach the admin API, accepted in the Host header (repeatable; loopback names are always accepted)', collect, [])
    .option('--auth <mode>', 'proxy authentication: token | none', 'token')
    .option('--xds-hostname <name>', 'extra DNS name or IP of the xDS serving certificate (repeatable); localhost and 127.0.0.1 are always in it', collect, [])
    .option('--xds-tls-cert <file>', 'serve xDS with this certificate (PEM) instead of one issued from the control-plane CA')
    .option('--xds-tls-key <file>', 'key of --xds-tls-cert')
    .option('--xds-plaintext', 'serve xDS without TLS (local development only: tokens and keys travel in clear)')
    .option('--offline-grace <duration>', 'how long a Dataplane\'s proxy may have no stream (on any replica) before its endpoints are reported unhealthy', DEFAULT_OFFLINE_GRACE)
    .option('--store <url>', 'etcd://HOST:PORT[,HOST:PORT…]: keep everything in etcd, shared by several replicas (default: the --data-dir directory)')
    .option('--store-ca-cert <file>', 'CA certificate of etcd\'s serving certificate (TLS to etcd)')
    .option('--store-cert <file>', 'client certificate for etcd (mTLS, etcd --client-cert-auth)')
    .option('--store-key <file>', 'key of --store-cert')
    .option('--store-encryption-key-file <file>', 'with --store etcd://: 32-byte key (raw, base64 or hex) encrypting private keys in etcd; the same on every replica, never in etcd');
  addXdsLimitFlags(serve).action(async (options: ServeOptions) => {
      const log = createLogger();
      const server = await startServer(options, log);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          log.info('shutting down');
          server.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
