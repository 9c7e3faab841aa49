/**
 * `meshcp validate -f FILE…`: checks resources offline — schema, secret material and
 * cross-resource references — and prints every error, not just the first (SPEC §3).
 */
import type { Command } from 'commander';
import { formatFieldError, type FieldError } from '../api/errors.js';
import { loadConfigPaths } from '../api/load-files.js';
import { resourceSetWarnings } from '../generate/gateway-warnings.js';
import { validateResources } from '../sources/validate.js';
import { CliError, processIo, type CliIo } from './output.js';

export interface ValidateReport {
  readonly resources: number;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}

export async function validateFiles(paths: string[], now: Date = new Date()): Promise<ValidateReport> {
  const loaded = await loadConfigPaths(paths);
  const warnings: FieldError[] = [...loaded.warnings];
  if (!loaded.ok) return { resources: 0, errors: loaded.errors.map(formatFieldError), warnings: warnings.map(formatFieldError) };
  // The same checks as `apply` and `serve` (sources/validate.ts validateResources).
  const checked = validateResources(loaded.value, { now, warnings: resourceSetWarnings });
  const errors = checked.errors;
  warnings.push(...checked.warnings);
  return { resources: loaded.value.length, errors: errors.map(formatFieldError), warnings: warnings.map(formatFieldError) };
}

export function registerValidate(program: Command, io: CliIo = processIo()): void {
  program
    .command('validate')
    .description('Check resource files offline (schema, secret material, references) and print every error')
    .requiredOption('-f, --file <path>', 'YAML file or directory (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .action(async (options: { file: string[] }) => {
      const report = await validateFiles(options.file);
      for (const w of report.warnings) io.stderr.write(`warning: ${w}\n`);
      // Every error, one line each; main() prints them as `Error: …` and exits 1.
      if (report.errors.length > 0) throw new CliError([...report.errors, `${report.errors.length} error(s) in ${options.file.join(', ')}`]);
      io.stdout.write(`${report.resources} resource(s) valid\n`);
    });
}
