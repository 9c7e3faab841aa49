/**
 * Errors that name the flag the user typed, instead of Node's `ENOENT: no such file or directory,
 * open 'x'`, `EADDRINUSE` or gRPC's "No address added out of total 1 resolved".
 */
import fs from 'node:fs';

const FILE_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a parent of it is not a directory',
};

function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** `--token-file F: no such file`. */
export function fileFlagError(flag: string, file: string, err: unknown): Error {
  const code = errnoCode(err);
  const problem = (code !== undefined ? FILE_PROBLEMS[code] : undefined) ?? code ?? (err instanceof Error ? err.message : String(err));
  return new Error(`${flag} ${file}: ${problem}`);
}

/** Reads the file a flag names; a failure names the flag and the file. */
export function readFlagFile(flag: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fileFlagError(flag, file, err);
  }
}

/** Node's EADDRINUSE, or grpc-js's bind failure that only carries it in its message. */
function listenProblem(err: unknown): string | undefined {
  const text = `${errnoCode(err) ?? ''} ${err instanceof Error ? err.message : String(err)}`;
  if (text.includes('EADDRINUSE')) return 'address already in use';
  if (text.includes('EADDRNOTAVAIL')) return 'address not available on this machine';
  if (text.includes('EACCES')) return 'permission denied (ports below 1024 need privileges)';
  if (text.includes('ENOTFOUND') || text.includes('EAI_AGAIN')) return 'host name does not resolve';
  return undefined;
}

/** `--xds-address 127.0.0.1:5678: address already in use`. */
export function listenFlagError(flag: string, address: string, err: unknown): Error {
  const problem = listenProblem(err);
  return problem !== undefined ? new Error(`${flag} ${address}: ${problem}`) : new Error(`${flag} ${address}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Awaits a listen, mapping its failure to {@link listenFlagError}. */
export async function listenOn<T>(flag: string, address: string, listen: Promise<T>): Promise<T> {
  try {
    return await listen;
  } catch (err) {
    throw listenFlagError(flag, address, err);
  }
}

/**
 * The last resort in main's error path, for a system error no command mapped: say what and
 * where in one line, without Node's syscall wording.
 */
export function describeSystemError(err: unknown): string | undefined {
  const code = errnoCode(err);
  if (code === undefined) return undefined;
  const e = err as { path?: unknown; address?: unknown; port?: unknown };
  if (typeof e.path === 'string' && FILE_PROBLEMS[code] !== undefined) return `${e.path}: ${FILE_PROBLEMS[code]}`;
  const problem = listenProblem(err);
  if (problem !== undefined && typeof e.address === 'string') return `${e.address}${typeof e.port === 'number' ? `:${e.port}` : ''}: ${problem}`;
  return undefined;
}
