// `npm run demo`: build, saying what it does (the build is quiet for half a minute), then the demo.
// From an installed package, `meshcp demo` runs the same demo without a build.
import { spawnSync } from 'node:child_process';

const steps = [
  ['compiling TypeScript (tsc)', 'tsc', ['-p', 'tsconfig.json']],
  ['making the meshcp bin executable', process.execPath, ['scripts/bin-executable.mjs']],
  ['building the web GUI (tsc + vite)', 'npm', ['run', '--silent', 'build:gui']],
];
const started = Date.now();
for (const [what, command, args] of steps) {
  process.stdout.write(`[build] ${what}…\n`);
  const run = spawnSync(command, args, { stdio: 'inherit' });
  if (run.status !== 0) {
    process.stderr.write(`[build] ${what} failed\n`);
    process.exit(run.status ?? 1);
  }
}
process.stdout.write(`[build] done in ${((Date.now() - started) / 1000).toFixed(0)} s; starting the demo\n`);
// The demo of the installed bin (`meshcp demo`), from the build just made.
const demo = spawnSync(process.execPath, ['dist/src/cli/main.js', 'demo', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(demo.status ?? 1);
