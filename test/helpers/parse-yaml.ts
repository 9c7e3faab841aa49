/**
 * Every resource of a multi-document YAML (or JSON) text, or every error of every document: the
 * parse of `src/api/parse.ts` with its duplicate check, as tests write fixtures inline. The server
 * reads files through `api/load-files.ts` and the admin API through `parseYamlEntries`.
 */
import { errorResult, okResult, type Result } from '../../src/api/errors.js';
import { findDuplicateResources, parseYamlEntries } from '../../src/api/parse.js';
import type { Resource } from '../../src/api/types.js';

export function parseYamlDocuments(text: string, ctx: { file?: string; baseDir?: string } = {}): Result<Resource[]> {
  const parsed = parseYamlEntries(text, ctx);
  if (!parsed.ok) return parsed;
  const duplicates = findDuplicateResources(parsed.value);
  if (duplicates.length > 0) return errorResult(duplicates, parsed.warnings);
  return okResult(parsed.value.map((e) => e.resource), parsed.warnings);
}
