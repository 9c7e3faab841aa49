/**
 * The web GUI's build: Preact compiled by Vite's own esbuild (JSX through tsconfig's
 * jsxImportSource, no plugin), one script and one stylesheet under dist/gui/assets with
 * content-hashed names, nothing inlined (the admin API's Content-Security-Policy allows no inline
 * script, style or data: URL), served by the admin API at /gui/.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/gui/',
  logLevel: 'warn',
  build: {
    outDir: path.resolve(here, '../dist/gui'),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
