/**
 * `npm run bench:gui`: how long the web GUI takes to show 1,000 dataplanes and a graph of 100
 * services, in Debian's Chromium against a real `meshcp serve` (the same harness as the browser
 * tests). Measured, never asserted: the tests assert what the pages show, this says how fast.
 *
 *   GUI_BENCH_DATAPLANES (default 1000), GUI_BENCH_SERVICES (100), GUI_BENCH_RUNS (5),
 *   GUI_BENCH_PROXIES: how many of the dataplanes connect (raw ADS clients; default 0).
 */
import { performance } from 'node:perf_hooks';
import type { Page } from 'playwright-core';
import { launchChromium, startGuiServer } from '../test/gui/harness.js';
import { largeMesh } from '../test/gui/fixtures.js';

const DATAPLANES = Number(process.env['GUI_BENCH_DATAPLANES'] ?? 1000);
const SERVICES = Number(process.env['GUI_BENCH_SERVICES'] ?? 100);
const RUNS = Number(process.env['GUI_BENCH_RUNS'] ?? 5);
const PROXIES = Number(process.env['GUI_BENCH_PROXIES'] ?? 0);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** What shows the page is ready: `count` elements match `selector`, or the first one's text starts with `text`. */
interface Ready {
  readonly selector: string;
  readonly text?: string;
  readonly count?: number;
}

/**
 * Milliseconds from the page's navigation start until `ready` holds (checked every animation
 * frame). A function, not a string: the GUI's Content-Security-Policy forbids eval in the page.
 */
async function loadTime(page: Page, url: string, ready: Ready): Promise<number> {
  await page.goto('about:blank');
  await page.goto(url);
  await page.waitForFunction(
    (r: Ready) => {
      const found = document.querySelectorAll(r.selector);
      if (r.count !== undefined) return found.length === r.count;
      return (found[0]?.textContent ?? '').includes(r.text ?? '');
    },
    ready,
    { timeout: 60_000, polling: 'raf' },
  );
  return page.evaluate(() => performance.now());
}

/** Milliseconds from a click on `selector` until the next frame after the DOM settles. */
async function clickTime(page: Page, selector: string): Promise<number> {
  return page.evaluate(async (sel) => {
    const target = document.querySelector<HTMLElement>(sel);
    if (!target) throw new Error(`no ${sel}`);
    const start = performance.now();
    target.click();
    await new Promise((resolve) => setTimeout(resolve, 0));
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    return performance.now() - start;
  }, selector);
}

async function main(): Promise<void> {
  const server = await startGuiServer(largeMesh(DATAPLANES, SERVICES));
  const browser = await launchChromium();
  try {
    for (let i = 0; i < PROXIES; i++) server.proxy(`dp-${String(i).padStart(4, '0')}`, 'large');
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const api = async (p: string): Promise<{ ms: number; bytes: number }> => {
      const start = performance.now();
      const text = await (await fetch(`${server.url}${p}`)).text();
      return { ms: performance.now() - start, bytes: text.length };
    };
    const rows: [string, number[]][] = [
      ['GET /api/inspect/dataplanes (ms)', []],
      ['GET /api/inspect/services (ms)', []],
      ['overview shown (ms from navigation)', []],
      ['dataplanes table shown, 1,000 rows paged (ms from navigation)', []],
      ['re-sort 1,000 rows by a column (ms)', []],
      ['services graph laid out, 100 nodes (ms from navigation)', []],
    ];
    let bytes = { dataplanes: 0, services: 0 };
    for (let run = 0; run < RUNS; run++) {
      const dp = await api('/api/inspect/dataplanes');
      const sv = await api('/api/inspect/services');
      bytes = { dataplanes: dp.bytes, services: sv.bytes };
      rows[0]![1].push(dp.ms);
      rows[1]![1].push(sv.ms);
      rows[2]![1].push(await loadTime(page, `${server.url}/gui/#/`, { selector: '[data-mesh="large"] [data-testid="ca-phase"]', text: 'ready' }));
      rows[3]![1].push(await loadTime(page, `${server.url}/gui/#/dataplanes`, { selector: '[data-testid="dataplane-count"]', text: `${DATAPLANES} of ${DATAPLANES} proxies` }));
      rows[4]![1].push(await clickTime(page, 'thead th:nth-child(3) button'));
      rows[5]![1].push(await loadTime(page, `${server.url}/gui/#/services`, { selector: 'svg g[data-node]', count: SERVICES }));
    }
    console.log(`web GUI, ${DATAPLANES} dataplanes, ${SERVICES} services, ${PROXIES} connected, ${RUNS} runs (median, min–max):`);
    for (const [name, values] of rows) console.log(`  ${name.padEnd(66)} ${median(values).toFixed(0).padStart(6)}  (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`);
    console.log(`  response sizes: dataplanes ${(bytes.dataplanes / 1024).toFixed(0)} KB, services ${(bytes.services / 1024).toFixed(0)} KB`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
