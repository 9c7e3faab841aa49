/**
 * The shell blocks of a Markdown file, as the docs test runs them.
 *
 * Convention (docs/verification.md, "Docs that run"):
 * - A fenced block whose info string is `sh`, `bash` or `shell` is a command block: it runs.
 *   Any other block (`yaml`, `console` transcripts, untagged diagrams) is text.
 * - An HTML comment on the line(s) right before the fence says how it runs (invisible on GitHub):
 *   - `<!-- docs-test: skip REASON -->`: never runs; REASON is printed.
 *   - `<!-- docs-test: needs TOOL[ TOOL…] -->`: runs where every TOOL is on PATH; otherwise it is
 *     skipped, naming the missing tool (tools the test machine must have fail instead, see the test).
 *   - `<!-- docs-test: fresh -->`: the block starts a new session: every background process of
 *     the blocks before it is stopped first (a section that starts its own `meshcp serve`).
 *   Several words may share one comment: `<!-- docs-test: fresh needs envoy -->`.
 */

export const COMMAND_LANGUAGES: ReadonlySet<string> = new Set(['sh', 'bash', 'shell']);

export interface CommandBlock {
  /** 1-based position among the file's command blocks. */
  readonly index: number;
  /** Line of the opening fence (1-based). */
  readonly line: number;
  readonly language: string;
  readonly text: string;
  readonly skip?: string;
  readonly needs: readonly string[];
  readonly fresh: boolean;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;
const MARKER = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/;

/** Parses one `docs-test:` comment body; throws on a word it does not know, so a typo is not silently ignored. */
function parseMarker(body: string, where: string): { skip?: string; needs: string[]; fresh: boolean } {
  const skip = /^skip\b\s*(.*)$/.exec(body);
  if (skip) {
    const reason = skip[1]?.trim() ?? '';
    if (reason === '') throw new Error(`${where}: "docs-test: skip" needs a reason`);
    return { skip: reason, needs: [], fresh: false };
  }
  const words = body.split(/\s+/).filter((w) => w !== '');
  const needs: string[] = [];
  let fresh = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === 'fresh') fresh = true;
    else if (word === 'needs') {
      while (i + 1 < words.length && words[i + 1] !== 'fresh' && words[i + 1] !== 'needs') needs.push(words[++i]!.replace(/,$/, ''));
    } else throw new Error(`${where}: unknown docs-test word "${word}" (known: skip REASON, needs TOOL…, fresh)`);
  }
  return { needs, fresh };
}

/** Every command block of `markdown`, in order, with its marker; `file` names errors. */
export function commandBlocks(markdown: string, file: string): CommandBlock[] {
  const lines = markdown.split('\n');
  const blocks: CommandBlock[] = [];
  let pendingMarkers: { body: string; line: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const marker = MARKER.exec(line);
    if (marker) {
      pendingMarkers.push({ body: marker[1] ?? '', line: i + 1 });
      continue;
    }
    const fence = FENCE.exec(line);
    if (!fence) {
      if (line.trim() !== '') pendingMarkers = [];
      continue;
    }
    const [, indent = '', ticks = '', language = ''] = fence;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j]!;
      if (close.trimStart().startsWith(ticks) && close.trim().replace(/^[`~]+/, '') === '') break;
      body.push(close.startsWith(indent) ? close.slice(indent.length) : close);
    }
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: code block not closed`);
    const lang = language.toLowerCase();
    if (COMMAND_LANGUAGES.has(lang)) {
      let skip: string | undefined;
      const needs: string[] = [];
      let fresh = false;
      for (const m of pendingMarkers) {
        const parsed = parseMarker(m.body, `${file}:${m.line}`);
        if (parsed.skip !== undefined) skip = parsed.skip;
        needs.push(...parsed.needs);
        fresh ||= parsed.fresh;
      }
      blocks.push({ index: blocks.length + 1, line: i + 1, language: lang, text: body.join('\n'), ...(skip !== undefined ? { skip } : {}), needs, fresh });
    } else if (pendingMarkers.length > 0) {
      throw new Error(`${file}:${pendingMarkers[0]!.line}: a docs-test marker before a \`${language || 'untagged'}\` block, which never runs (only ${[...COMMAND_LANGUAGES].join(', ')} blocks do)`);
    }
    pendingMarkers = [];
    i = j;
  }
  if (pendingMarkers.length > 0) throw new Error(`${file}:${pendingMarkers[0]!.line}: a docs-test marker with no code block after it`);
  return blocks;
}

/** A block's first line, for reports. */
export function firstLine(block: CommandBlock): string {
  return block.text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#'))?.trim() ?? '';
}
