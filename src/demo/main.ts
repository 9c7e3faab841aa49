/**
 * `npm run demo` in a checkout (after the build): the same demo as `meshcp demo` from an
 * installed package (cli/demo.ts). `--envoy` tells the story with Envoy sidecars and an edge
 * gateway (envoy-demo.ts).
 */
import { runDemo } from './run.js';

runDemo({ envoy: process.argv.includes('--envoy') }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
