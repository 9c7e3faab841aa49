/** What `ResourceSources` is given and what it reports: its options, the check options, its counters. */
import type { Observable } from 'rxjs';
import type { Resource } from '../api/types.js';
import type { CaFileReader, CaFileWatchOptions } from '../ca/providers/ca-files.js';
import type { ConfigFilesChange } from './config-files.js';

/** What ResourceSources needs from FileConfigSource. */
export interface ConfigFiles {
  readonly resources: Observable<readonly Resource[]>;
  /** Each load as a change (FileConfigSource); derived from `resources` when absent. */
  readonly changes?: Observable<ConfigFilesChange>;
  current(): readonly Resource[];
  readonly paths: readonly string[];
}

/** Options of `ResourceSources.check`. */
export interface CheckOptions {
  /** Secrets whose material is checked besides new or changed config-file secrets (an API batch's). */
  readonly alsoCheckSecret?: (r: Resource) => boolean;
  /** How provided CA files are read; the disk when absent. */
  readonly readFile?: CaFileReader;
}

export interface ResourceSourcesOptions {
  /** How CA files named by `file:` are watched; `serve` uses the defaults (directory watch, 60 s poll). */
  readonly caFiles?: CaFileWatchOptions;
  /** What the operator is told about a valid set's generated config (`ResourceSetOptions.warnings`); `serve` gives the gateway warnings. */
  readonly warnings?: (resources: readonly Resource[]) => readonly string[];
}

/** Recompute counters of the sources. */
export interface SourceCounters {
  /** Changes validated by `validateChange` (only what they touch). */
  incrementalChecks: number;
  /** Merges validated as a whole set (the start, a config file reload, a CA file re-check, any change while something is rejected or pinned). */
  fullChecks: number;
  /** Resources `validateChange` checked, summed over changes. */
  resourcesChecked: number;
  /** API batches `checkAlone` checked on what they touch. */
  apiChecksAlone: number;
  /** Runs of `check`, the whole-set check (merges, pins, and API batches that could not be checked alone). */
  wholeSetChecks: number;
}
