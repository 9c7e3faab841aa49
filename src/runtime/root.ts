/**
 * The composition root of `meshcp serve`: the one place that opens the store and makes the
 * sources, the SVID worker threads and the CA providers that sign with them, the xDS caller
 * authentication, the control plane (which makes the dependency cache, the encoder, the identity
 * manager and the xDS server), the replica status and the metrics, and closes them in reverse
 * (idle SVID workers need no closing: they keep nothing alive and stop by themselves).
 * `cli/serve.ts` parses flags, calls it, and puts the admin API (a layer above this one) on top.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Resource } from '../api/types.js';
import type { XdsServingCertificate } from '../ca/control-plane-ca.js';
import type { BlobStore } from '../ca/providers/builtin.js';
import { defaultCaProviders } from '../ca/providers/registry.js';
import { SvidWorkerPool } from '../ca/svid-workers.js';
import { re2EngineRestarts } from '../regex/re2.js';
import { tokenAuthenticator } from '../auth/xds-auth.js';
import type { TokenKeyring } from '../auth/keyring.js';
import { FileConfigSource } from '../sources/config-files.js';
import { ResourceSources } from '../sources/resource-sources.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { XdsLimits } from '../xds/limits.js';
import { ControlPlane } from './control-plane.js';
import { gatewayWarningsOf } from './gateway-warnings.js';
import { createServerMetrics, meshCasInUse, type ServerMetrics } from './metrics.js';
import { openStore, type OpenedStore, type StoreOptions } from './open-store.js';
import type { SharedProxyStatus } from './replica-status.js';

/** How xDS is served: the credentials, and the CA clients verify it with (or why there is none). */
export interface XdsTls {
  readonly credentials?: grpc.ServerCredentials;
  readonly caPem?: string;
  readonly serving?: XdsServingCertificate;
  /** Why GET /api/xds-ca has no CA to give. */
  readonly noCa?: string;
  readonly mode: 'plaintext' | 'files' | 'control-plane-ca';
}

export interface RuntimeOptions extends StoreOptions {
  /** `--config` files and directories, watched. */
  readonly config: readonly string[];
  /** Proxies present a dataplane token (`token`), or are not authenticated (`none`). */
  readonly auth: 'token' | 'none';
  /** How long a Dataplane's proxy may have no stream before its endpoints are unhealthy. */
  readonly offlineGraceMs: number;
  readonly xdsLimits: Partial<XdsLimits>;
  /** The xDS serving credentials, made once the store is open (the control-plane CA is kept in it). */
  readonly xdsTls: (store: BlobStore) => Promise<XdsTls>;
}

export interface Runtime {
  readonly store: Store;
  readonly opened: OpenedStore;
  readonly config: FileConfigSource;
  readonly sources: ResourceSources;
  readonly controlPlane: ControlPlane;
  readonly keyring: TokenKeyring;
  readonly xdsTls: XdsTls;
  /** etcd: every replica's proxies; undefined with the data directory. */
  readonly sharedStatus: SharedProxyStatus | undefined;
  readonly metrics: ServerMetrics;
  /** The resources served now. */
  served(): readonly Resource[];
  /** Closes what it opened, in reverse. */
  close(): Promise<void>;
}

/** Opens and starts everything but the listeners; rejects (after releasing what it opened) when the store or the initial config is invalid. */
export async function startRuntime(options: RuntimeOptions, log: Logger): Promise<Runtime> {
  const opened = await openStore(options, log.child({ component: 'store' }));
  const { store } = opened;
  const config = new FileConfigSource(options.config, log.child({ component: 'config' }));
  // The mesh CA checks are part of ResourceSources' validateResources (the one validator); what
  // the gateways' generated config will do that the user may not expect is told beside them,
  // read off the gateways alone (the mesh is translated once, by the control plane).
  const sources = new ResourceSources(config, store, log.child({ component: 'resources' }), undefined, [], { warnings: gatewayWarningsOf });
  // Builtin CA roots live in the data directory, so they survive restarts (SPEC §1 Mesh, §5). A
  // provided CA's `file:` is signed with as the served set accepted it (a file that turns bad on
  // disk leaves its mesh pinned at the last good material).
  // The worker threads that sign workload certificates, shared by every CA of this server.
  const svidWorkers = new SvidWorkerPool();
  const caProviders = defaultCaProviders(store, sources.caFileReader, svidWorkers);
  const cleanups: (() => Promise<void> | void)[] = [() => store.close()];
  const close = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  };
  try {
    const xdsTls = await options.xdsTls(store);
    cleanups.push(() => xdsTls.serving?.close());
    await config.start();
    cleanups.push(() => config.stop());
    sources.start();
    cleanups.push(() => sources.stop());
    // SPEC §2: with --auth token (the default) a proxy must present a dataplane token for its name
    // and mesh, verified with the keyring: rotated keys and revocations from the store, followed live.
    const keyring = await opened.keyring();
    cleanups.push(() => keyring.close());
    const authenticate = options.auth === 'token' ? tokenAuthenticator({ keyring, log: log.child({ component: 'xds-auth' }) }) : undefined;
    const controlPlane = new ControlPlane({
      changes: sources.changes,
      offlineGraceMs: options.offlineGraceMs,
      log,
      caStore: store,
      caProviders,
      ...(authenticate ? { authenticate } : {}),
      ...(xdsTls.credentials ? { xdsCredentials: xdsTls.credentials } : {}),
      xdsLimits: options.xdsLimits,
    });
    cleanups.push(() => controlPlane.close());
    // SPEC §5: with etcd, every replica's proxies show in `inspect` (status published under a lease).
    const sharedStatus = opened.shareStatus?.(controlPlane.status, log.child({ component: 'status' }));
    if (sharedStatus) {
      cleanups.push(() => sharedStatus.close());
      // A proxy held by another replica is online here too: its endpoints stay healthy.
      controlPlane.liveness?.attachRemote(sharedStatus);
    }
    const served = (): readonly Resource[] => sources.served()?.resources ?? [];
    const metrics = createServerMetrics({
      statusEvents: controlPlane.status.events,
      connectedProxies: () => controlPlane.status.list().filter((p) => p.activeStreams > 0).length,
      identities: () => controlPlane.identities.listStatus(),
      meshCas: () => meshCasInUse(controlPlane.identities, served()),
      resources: served,
      recompute: () => controlPlane.recompute(),
      sources: () => ({ counters: sources.counters, pinned: sources.pinned().size }),
      svidWorkers: () => svidWorkers.running,
      regexEngineRestarts: re2EngineRestarts,
    });
    cleanups.push(() => metrics.close());
    return { store, opened, config, sources, controlPlane, keyring, xdsTls, sharedStatus, metrics, served, close };
  } catch (err) {
    await close();
    throw err;
  }
}
