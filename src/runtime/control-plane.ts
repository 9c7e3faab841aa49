/**
 * The composition root: store → translate → model → generate per proxy → cache → xDS server.
 */
import { distinctUntilChanged, map, shareReplay, type Observable } from 'rxjs';
import type { Resource } from '../api/types.js';
import { generateForProxy, proxyIdentity } from '../generate/generate.js';
import type { Model } from '../model/model.js';
import { translateMeshes } from '../translate/mesh-services.js';
import { SnapshotCache } from '../xds/cache.js';
import { XdsServer } from '../xds/server.js';
import { StatusRegistry } from '../xds/status.js';
import type { Logger } from './logger.js';

export interface ControlPlaneOptions {
  readonly resources: Observable<readonly Resource[]>;
  readonly log: Logger;
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
}

export class ControlPlane {
  readonly status = new StatusRegistry();
  readonly model: Observable<Model>;
  readonly cache: SnapshotCache;
  readonly xds: XdsServer;

  constructor(options: ControlPlaneOptions) {
    this.model = options.resources.pipe(
      distinctUntilChanged(),
      map((resources) => translateMeshes(resources)),
      shareReplay({ bufferSize: 1, refCount: false }),
    );
    this.cache = new SnapshotCache(
      (node) => {
        const proxy = proxyIdentity(node);
        return this.model.pipe(map((model) => generateForProxy(model, proxy)));
      },
      options.log,
    );
    this.xds = new XdsServer({
      watcher: this.cache,
      status: this.status,
      log: options.log.child({ component: 'xds' }),
      keepaliveTimeMs: options.keepaliveTimeMs,
      keepaliveTimeoutMs: options.keepaliveTimeoutMs,
    });
  }

  async listen(xdsAddress: string): Promise<number> {
    const port = await this.xds.listen(xdsAddress);
    this.xds.setServing(true);
    return port;
  }

  async close(): Promise<void> {
    this.xds.setServing(false);
    await this.xds.close();
  }
}
