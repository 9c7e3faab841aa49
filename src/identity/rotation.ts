/**
 * When to rotate a workload certificate: at 4/5 of its lifetime (SPEC §1 Mesh, Kuma), moved by
 * up to ±5% of the time left at that point, so proxies issued together do not all come back to
 * the CA in the same instant.
 */

export const ROTATION_FRACTION = 4 / 5;
export const ROTATION_JITTER = 0.05;
/** A floor, so a lifetime of a second or less cannot turn into a busy loop of issuance. */
export const MIN_ROTATION_DELAY_MS = 250;

/** Milliseconds after `issuedAt` to rotate; `random` is uniform in [0, 1) (0.5: no jitter). */
export function rotationDelayMs(issuedAt: Date, notAfter: Date, random: () => number): number {
  const lifetime = notAfter.getTime() - issuedAt.getTime();
  const base = lifetime * ROTATION_FRACTION;
  const jitter = (random() * 2 - 1) * ROTATION_JITTER * (lifetime - base);
  return Math.max(MIN_ROTATION_DELAY_MS, Math.round(base + jitter));
}

/** The certificate lifetime to ask for: whole seconds (X.509 precision), at least one. */
export function validitySecondsOf(expirationSeconds: number): number {
  return Math.max(1, Math.ceil(expirationSeconds));
}
