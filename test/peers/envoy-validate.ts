/**
 * Envoy's own validation rules (protoc-gen-validate, compiled into go-control-plane's generated
 * types) run on what meshcp generates, through test/peers/go/cmd/envoy-validate. One process per
 * batch: callers gather every resource of a test file and validate them in one call.
 */
import { spawnSync } from 'node:child_process';
import { goBinary } from './go-binaries.js';

export type ValidationInput =
  | { readonly typeUrl: string; readonly value: Uint8Array }
  /** proto3 JSON, as Envoy reads a bootstrap file: unknown fields are errors. */
  | { readonly typeUrl: string; readonly json: unknown };

/** For each input, in order, the rule violations Envoy would report (empty: accepted). */
export function envoyValidate(inputs: readonly ValidationInput[]): string[][] {
  if (inputs.length === 0) return [];
  const lines = inputs.map((input) =>
    JSON.stringify('value' in input ? { typeUrl: input.typeUrl, binary: Buffer.from(input.value).toString('base64') } : { typeUrl: input.typeUrl, json: input.json }),
  );
  const result = spawnSync(goBinary('envoy-validate'), [], { input: `${lines.join('\n')}\n`, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  if (result.error || result.status !== 0) {
    throw new Error(`envoy-validate failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}):\n${result.stderr}`);
  }
  const verdicts = result.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { errors: string[] }).errors);
  if (verdicts.length !== inputs.length) throw new Error(`envoy-validate answered ${verdicts.length} verdicts for ${inputs.length} inputs:\n${result.stderr}`);
  return verdicts;
}
