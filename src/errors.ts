/**
 * Every error a user can meet carries a stable code and a one-line message that names the
 * problem and the fix. Callers tell errors apart by `code`, never by message text.
 */
export type FrelayErrorCode =
  | "FRELAY_ERR_USAGE"
  | "FRELAY_ERR_CONFIG_INVALID"
  | "FRELAY_ERR_CONFIG_MISSING"
  | "FRELAY_ERR_FILE"
  | "FRELAY_ERR_EXISTS"
  | "FRELAY_ERR_PKI"
  | "FRELAY_ERR_LISTEN"
  | "FRELAY_ERR_RUNNING"
  | "FRELAY_ERR_NOT_RUNNING"
  | "FRELAY_ERR_CONTROL"
  | "FRELAY_ERR_CONNECT"
  | "FRELAY_ERR_REFUSED"
  | "FRELAY_ERR_PEER";

export class FrelayError extends Error {
  readonly code: FrelayErrorCode;
  /** For a config error: every problem found, each already a full sentence. */
  readonly details: readonly string[];

  constructor(code: FrelayErrorCode, message: string, details: readonly string[] = []) {
    super(message);
    this.name = "FrelayError";
    this.code = code;
    this.details = details;
  }
}

export function isFrelayError(err: unknown): err is FrelayError {
  return err instanceof FrelayError;
}

/** A short text for any thrown value, for logs and refusals. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
