/**
 * The connected proxies of the identity manager (manager.ts), by mesh then name, and how each is
 * told a new version of its material: no `mesh/name` key string is kept (or built per lookup) for
 * each proxy, and a mesh's proxies are one map (per-proxy memory).
 */
import type { DependencyKey } from '../change/keys.js';
import type { ProxyState, VersionListener } from './state.js';
import type { ProxyRef } from './types.js';

export class ConnectedProxies {
  private readonly byMesh = new Map<string, Map<string, ProxyState>>();

  get(mesh: string, name: string): ProxyState | undefined {
    return this.byMesh.get(mesh)?.get(name);
  }

  /**
   * The connected proxies of `mesh`, from the per-mesh index: called per issuance and per SDS
   * ACK during a CA switch, a scan of every proxy of every mesh each time was quadratic.
   */
  of(mesh: string): ProxyState[] {
    const members = this.byMesh.get(mesh);
    return members ? [...members.values()].filter((p) => p.subscribers > 0) : [];
  }

  /** Every proxy with a state, connected or not. */
  *all(): IterableIterator<ProxyState> {
    for (const members of this.byMesh.values()) yield* members.values();
  }

  /** Adds `listener` to the proxy's listeners (its state made on the first one) and counts it as a subscriber. */
  add(ref: ProxyRef, listener: VersionListener): ProxyState {
    let members = this.byMesh.get(ref.mesh);
    let proxy = members?.get(ref.name);
    if (!proxy) {
      // Every field the state ever gets, set now: fields added later would go to a separate property array.
      proxy = {
        mesh: ref.mesh,
        name: ref.name,
        subscribers: 0,
        version: -1,
        watchers: listener,
        ready: false,
        spiffeIds: undefined,
        identity: undefined,
        identityPublishedAt: undefined,
        issueSeq: 0,
        issuing: false,
        cancelTimer: undefined,
      };
      if (!members) this.byMesh.set(ref.mesh, (members = new Map()));
      members.set(ref.name, proxy);
    } else if (Array.isArray(proxy.watchers)) proxy.watchers.push(listener);
    else proxy.watchers = [proxy.watchers, listener];
    proxy.subscribers++;
    return proxy;
  }

  /** Removes `listener`; true when it was the proxy's last subscriber (and the proxy is still this state). */
  remove(proxy: ProxyState, listener: VersionListener): boolean {
    const watchers = proxy.watchers;
    if (!Array.isArray(watchers)) {
      if (watchers === listener) proxy.watchers = [];
    } else {
      const index = watchers.indexOf(listener);
      if (index >= 0) watchers.splice(index, 1);
    }
    proxy.subscribers--;
    return proxy.subscribers === 0 && this.get(proxy.mesh, proxy.name) === proxy;
  }

  delete(proxy: ProxyState): void {
    const members = this.byMesh.get(proxy.mesh);
    members?.delete(proxy.name);
    if (members?.size === 0) this.byMesh.delete(proxy.mesh);
  }

  /** A new version of the proxy's material, standing for `keys`. */
  publish(proxy: ProxyState, keys: readonly DependencyKey[]): void {
    proxy.ready = true;
    const version = ++proxy.version;
    const watchers = proxy.watchers;
    // A watcher may subscribe or unsubscribe while being told: tell those present now.
    if (!Array.isArray(watchers)) watchers.next(version, keys);
    else if (watchers.length === 1) watchers[0]!.next(version, keys);
    else for (const watcher of [...watchers]) watcher.next(version, keys);
  }

  /** A change of the whole mesh's material (`keys`, one list for every proxy): a new version for each ready proxy. */
  publishMesh(mesh: string, keys: readonly DependencyKey[]): void {
    for (const proxy of this.of(mesh)) if (proxy.ready) this.publish(proxy, keys);
  }
}
