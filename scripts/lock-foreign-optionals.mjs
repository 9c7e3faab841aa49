// The registry this project is built against mirrors only the linux-x64/arm64
// builds of rollup's native packages, so `npm install` cannot write lock
// entries for the other platforms and `npm ci` then reports the lock as out of
// sync. This script adds the entries npm would have written on a full registry
// (same version, os/cpu/libc constraints, optional) so `npm ci` accepts the
// lock; npm never fetches them because their os/cpu never match this machine.
import fs from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const rollup = lock.packages['node_modules/rollup'];
const cpuOf = { 'arm-eabi': 'arm', arm64: 'arm64', x64: 'x64', arm: 'arm', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x', ia32: 'ia32' };
let added = 0;
for (const [name, version] of Object.entries(rollup.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const m = /^@rollup\/rollup-([a-z0-9]+)-([a-z0-9]+)(?:-([a-z]+))?(?:-([a-z]+))?$/.exec(name);
  if (!m) continue;
  const [, os0, cpu0, abi0, abi1] = m;
  const os = os0 === 'win32' ? 'win32' : os0;
  const cpu = cpuOf[cpu0] ?? cpu0;
  const entry = { version, cpu: [cpu], dev: true, license: 'MIT', optional: true, os: [os] };
  const abi = [abi0, abi1].filter(Boolean).join('-');
  if (os === 'linux' && /gnu/.test(abi)) entry.libc = ['glibc'];
  if (os === 'linux' && /musl/.test(abi)) entry.libc = ['musl'];
  lock.packages[key] = entry;
  added++;
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
fs.writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n');
console.log(`added ${added} foreign-platform optional entries`);
