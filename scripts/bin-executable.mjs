// tsc writes dist/src/cli/main.js without the execute bit; the package's bin (and any symlink to
// it: npm link, a PATH entry, `ln -s`) must be executable to run through its #! line.
import fs from 'node:fs';

const bin = new URL('../dist/src/cli/main.js', import.meta.url);
fs.chmodSync(bin, 0o755);
