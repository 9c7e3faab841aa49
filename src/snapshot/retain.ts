/**
 * What a connected proxy keeps of its config once its snapshot is built (idle memory per proxy).
 * The plain objects of a type are read again only to encode them, so once encoded a list is
 * replaced by its set's stand-in (sets.ts `StandIn`): an empty, frozen list that stands for the
 * encoded set, one per set (proxies holding the same set share it). Only the EDS list (an endpoint
 * change patches it, runtime/proxy-configs.ts; it is shared between proxies anyway) and the SDS
 * list (an identity tick swaps its Secrets, which the identity module keeps anyway) stay plain. A
 * stand-in encodes to its set with any encoder, so a config holding stand-ins builds the same
 * snapshot as the config it stands for. Without it, every idle proxy keeps its own listener and
 * cluster objects, plus their entries in the encoder's weak maps.
 */
import { MapWith, TypeMap } from './maps.js';
import { EncodedSet, isStandIn, KEPT_PLAIN } from './sets.js';
import type { GeneratedConfig, Snapshot } from './snapshot.js';
import type { ResourceObject } from './types.js';

/** The lists of a kept config (retainConfig): only EDS and SDS are plain lists. */
class KeptLists extends TypeMap<readonly ResourceObject[]> {}

/**
 * `config`, built into `snapshot`, with its encoded lists replaced by stand-ins: what to keep as
 * the `previous` config, and what the config's producer keeps in its place (snapshot/cache.ts
 * hands it back). `config` itself when there is nothing to replace.
 */
export function retainConfig(config: GeneratedConfig, snapshot: Snapshot): GeneratedConfig {
  const lists = config.resources;
  // An endpoint or identity patch of a kept config (the usual case, every proxy, every change): nothing to replace.
  if (lists instanceof MapWith && KEPT_PLAIN.has(lists.key) && lists.base instanceof KeptLists) return config;
  let replace = false;
  config.resources.forEach((list, typeUrl) => {
    if (!replace && !KEPT_PLAIN.has(typeUrl) && !isStandIn(list) && snapshot.resources.get(typeUrl) instanceof EncodedSet) replace = true;
  });
  if (!replace) return config;
  const resources = new KeptLists();
  config.resources.forEach((list, typeUrl) => {
    const set = snapshot.resources.get(typeUrl);
    resources.set(typeUrl, KEPT_PLAIN.has(typeUrl) || !(set instanceof EncodedSet) ? list : set.standIn());
  });
  return { ...config, resources };
}
