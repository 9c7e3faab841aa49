/**
 * How the sources validate: a whole merged set (`validateResources`, the one validator of
 * validate -f, apply and serve) or one change to the served set (`validateChange`, which looks only
 * at what the change touches), each followed by the extra checks `serve` adds.
 */
import type { ResourceChange } from '../api/resource-set.js';
import type { FieldError } from '../api/errors.js';
import type { Resource, SecretResource } from '../api/types.js';
import type { CaFileReader } from '../ca/providers/ca-files.js';
import { validateChange, validateResources, type ChangeCheckResult, type CheckResult } from './validate.js';

/**
 * An extra check of the whole merged set, after validateResources (which includes the mesh CA backends).
 * Its errors reject the change like a reference error; its warnings are logged once each.
 */
export type ResourceCheck = (resources: readonly Resource[], now: Date) => CheckResult;

export class SetChecks {
  constructor(
    private readonly extra: readonly ResourceCheck[],
    /** What the operator is told about a valid set's generated config (`ResourceSetOptions.warnings`). */
    private readonly warnings: ((resources: readonly Resource[]) => readonly string[]) | undefined,
  ) {}

  /** Whether checks beyond the validator run: they look at the whole set, so no change is checked on its own for the admin API. */
  get hasExtra(): boolean {
    return this.extra.length > 0;
  }

  /** Errors and warnings of a whole set; `checkSecret` picks the secrets whose material is checked. */
  wholeSet(resources: readonly Resource[], now: Date, checkSecret: (r: SecretResource) => boolean, readFile: CaFileReader | undefined): CheckResult {
    const result = validateResources(resources, {
      now,
      checkSecret,
      ...(readFile ? { readFile } : {}),
      ...(this.warnings ? { warnings: this.warnings } : {}),
    });
    return this.withExtra(result, resources, now);
  }

  /** `validateChange` on what the change touches; `extra`: whether the extra checks run too (on the changed set). */
  change(change: ResourceChange, now: Date, checkSecret: (r: SecretResource) => boolean, readFile: CaFileReader, extra: boolean): ChangeCheckResult {
    const result = validateChange(change, { now, checkSecret, readFile, ...(this.warnings ? { warnings: this.warnings } : {}) });
    if (!extra || this.extra.length === 0) return result;
    return { ...result, ...this.withExtra(result, change.set.list(), now) };
  }

  private withExtra(result: CheckResult, resources: readonly Resource[], now: Date): CheckResult {
    const errors: FieldError[] = [...result.errors];
    const warnings: FieldError[] = [...result.warnings];
    for (const check of this.extra) {
      const more = check(resources, now);
      errors.push(...more.errors);
      warnings.push(...more.warnings);
    }
    return { errors, warnings };
  }
}
