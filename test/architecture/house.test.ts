/**
 * The house rules (docs/architecture.md "Layers"), measured on src/ by scripts/house.mjs, the same
 * measure `node scripts/house.mjs` prints:
 * - no import cycle between files, `import type` included (a type-only cycle is still one for the reader);
 * - no import up the pipeline: a folder imports only folders before it in FOLDER_ORDER, and every
 *   folder is placed in that order;
 * - at most MAX_FLOORS folders on the longest chain of folder imports;
 * - no file grows past 400 lines, and the files already past it only shrink (OVER_LIMIT: lower a
 *   number when a file shrinks, remove the file when it is split);
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface House {
  readonly files: number;
  readonly overLimit: readonly { readonly file: string; readonly lines: number }[];
  readonly cycles: readonly (readonly string[])[];
  readonly floors: number;
  readonly upward: readonly string[];
  readonly unknownFolders: readonly string[];
  readonly issueRefs: readonly string[];
}

function measure(root: string): House {
  return JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts/house.mjs'), '--json', '--root', root], { encoding: 'utf8' })) as House;
}

/** The files over 400 lines when the rule came in, with their length then: each may only shrink. */
const OVER_LIMIT: Readonly<Record<string, number>> = {
};

const MAX_FLOORS = 9;

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the house', () => {
  const house = measure(ROOT);

  it('has no import cycle, not even through import type', () => {
    expect(house.files).toBeGreaterThan(100);
    expect(house.cycles).toEqual([]);
  });

  it('imports only down the pipeline, every folder placed in the layer order, within the floor budget', () => {
    expect(house.unknownFolders).toEqual([]);
    expect(house.upward).toEqual([]);
    expect(house.floors).toBeLessThanOrEqual(MAX_FLOORS);
  });

  it('grows no file past 400 lines, and the files already past it only shrink', () => {
    const grown = house.overLimit.filter((o) => o.lines > (OVER_LIMIT[o.file] ?? 400)).map((o) => `${o.file}: ${o.lines} lines (at most ${OVER_LIMIT[o.file] ?? 400})`);
    expect(grown).toEqual([]);
  });

  it('cites no issue numbers in src/', () => {
    expect(house.issueRefs).toEqual([]);
  });

  it('catches a cycle through import type and an upward import (the measure can fail)', () => {
    // given a tree where api imports translate (upward) and translate imports a type back (a cycle)
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'house-'));
    scratch.push(root);
    fs.mkdirSync(path.join(root, 'src/api'), { recursive: true });
    fs.mkdirSync(path.join(root, 'src/translate'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src/api/a.ts'), "import { b } from '../translate/b.js';\nexport interface A { readonly b: typeof b }\n");
    fs.writeFileSync(path.join(root, 'src/translate/b.ts'), "import type { A } from '../api/a.js';\nexport const b = 1;\nexport type B = A;\n");
    // when measured
    const bad = measure(root);
    // then both are reported
    expect(bad.cycles).toEqual([['src/api/a.ts', 'src/translate/b.ts']]);
    expect(bad.upward).toEqual(['src/api/a.ts -> src/translate/b.ts']);
  });
});
