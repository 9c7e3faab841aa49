/** What the sources warn the operator about, each once: check warnings, and API resources a config file shadows. */
import { formatFieldError, type FieldError } from '../api/errors.js';
import { resourceKey, resourceLabel, type Resource } from '../api/types.js';
import type { Logger } from '../log/logger.js';

export class SourceWarnings {
  private shadowWarned = '';
  private logged = new Set<string>();

  constructor(private readonly log: Logger) {}

  /** A whole-set check's warnings: checks run on every merge, so a warning about an unchanged resource is not repeated; one gone and back is. */
  ofWholeSet(warnings: readonly FieldError[]): void {
    const lines = new Set(warnings.map(formatFieldError));
    for (const line of lines) if (!this.logged.has(line)) this.log.warn(line);
    this.logged = lines;
  }

  /** A change's warnings: the resources it did not touch keep theirs until the next whole-set check. */
  ofChange(warnings: readonly FieldError[]): void {
    for (const line of new Set(warnings.map(formatFieldError))) {
      if (this.logged.has(line)) continue;
      this.log.warn(line);
      this.logged.add(line);
    }
  }

  /** Stored resources a config file resource of the same key hides; logged again when the set of them changes. */
  shadowed(shadowed: readonly Resource[]): void {
    const keys = shadowed.map(resourceKey).sort().join(',');
    if (keys === this.shadowWarned) return;
    this.shadowWarned = keys;
    for (const r of shadowed) {
      const where = r.type === 'Mesh' ? '' : ` in mesh "${r.mesh}"`;
      this.log.warn({ resource: resourceKey(r) }, `${resourceLabel(r)}${where} is defined both in a --config file and through the API; the file wins`);
    }
  }
}
