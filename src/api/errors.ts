/**
 * Path-addressed validation errors (Kuma `validators.RootedAt().Field()`), returned as a
 * discriminated union (grpc-js-xds `ValidationResult<T>`), never thrown as control flow.
 */
export interface FieldError {
  readonly file?: string;
  /** 1-based index of the YAML document within its file. */
  readonly document?: number;
  /** `Kind/name`, e.g. `Route/my-route`, once the document's type and name are known. */
  readonly resource?: string;
  /** e.g. `validation.clientCertificate.subjectMatches[1].regex`; empty for the whole document or file. */
  readonly path: string;
  readonly message: string;
}

export type Result<T> =
  | { ok: true; value: T; warnings: FieldError[] }
  | { ok: false; errors: FieldError[]; warnings: FieldError[] };

/** SPEC §1: `routes.yaml#2 Route/my-route: validation.clientCertificate.subjectMatches[1].regex: invalid RE2 syntax …` */
export function formatFieldError(e: FieldError): string {
  const doc = e.document !== undefined ? `#${e.document}` : '';
  const origin = e.file !== undefined ? `${e.file}${doc}` : doc;
  const where = [origin, e.resource ?? ''].filter((s) => s !== '').join(' ');
  return singleLine([where, e.path, e.message].filter((s) => s !== '').join(': '));
}

/**
 * Log lines and API errors are one line each: a message that quotes
 * engine or parser output could otherwise carry several lines (and forge log entries).
 */
export function singleLine(text: string): string {
  return text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
}

export function okResult<T>(value: T, warnings: FieldError[] = []): Result<T> {
  return { ok: true, value, warnings };
}

export function errorResult<T>(errors: FieldError[], warnings: FieldError[] = []): Result<T> {
  return { ok: false, errors, warnings };
}
