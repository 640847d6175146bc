/**
 * The errors a user can meet, as a small class tree (in the manner of undici's): every one is a
 * FrelayError with a stable `code` and a one-line message that names the problem and the fix.
 * Callers tell errors apart by `code` (or by class), never by message text. docs/errors.md
 * lists every code with its meaning and fix; a test keeps the two in step.
 */
export type FrelayErrorCode =
  | "FRELAY_ERR_USAGE"
  | "FRELAY_ERR_CONFIG_INVALID"
  | "FRELAY_ERR_CONFIG_MISSING"
  | "FRELAY_ERR_ROUTE_NOT_FOUND"
  | "FRELAY_ERR_FILE"
  | "FRELAY_ERR_EXISTS"
  | "FRELAY_ERR_PKI"
  | "FRELAY_ERR_LISTEN"
  | "FRELAY_ERR_RUNNING"
  | "FRELAY_ERR_NOT_RUNNING"
  | "FRELAY_ERR_STOP_TIMEOUT"
  | "FRELAY_ERR_CONTROL"
  | "FRELAY_ERR_RELOAD_FAILED"
  | "FRELAY_ERR_CONNECT"
  | "FRELAY_ERR_REFUSED"
  | "FRELAY_ERR_PEER";

export class FrelayError extends Error {
  readonly code: FrelayErrorCode;
  /** For a config error: every problem found, each already a full sentence. */
  readonly details: readonly string[];

  constructor(code: FrelayErrorCode, message: string, details: readonly string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = "FrelayError";
    this.code = code;
    this.details = details;
  }
}

/** A command line that cannot be acted on: an unknown command, a bad flag or name. Exit code 2. */
export class UsageError extends FrelayError {
  constructor(message: string) {
    super("FRELAY_ERR_USAGE", message);
    this.name = "UsageError";
  }
}

/** config.json is missing, is not valid, or lacks what a command asked to change. */
export class ConfigError extends FrelayError {
  constructor(
    code: "FRELAY_ERR_CONFIG_INVALID" | "FRELAY_ERR_CONFIG_MISSING" | "FRELAY_ERR_ROUTE_NOT_FOUND",
    message: string,
    details: readonly string[] = [],
  ) {
    super(code, message, details);
    this.name = "ConfigError";
  }
}

/** A file that cannot be read or written, or one that exists and would be overwritten. */
export class FileError extends FrelayError {
  constructor(code: "FRELAY_ERR_FILE" | "FRELAY_ERR_EXISTS", message: string, options?: ErrorOptions) {
    super(code, message, [], options);
    this.name = "FileError";
  }
}

/** A certificate or key that is missing, or is not what the command needs. */
export class PkiError extends FrelayError {
  constructor(message: string) {
    super("FRELAY_ERR_PKI", message);
    this.name = "PkiError";
  }
}

/** Starting, stopping, reloading or asking the daemon failed. */
export class DaemonError extends FrelayError {
  constructor(
    code:
      | "FRELAY_ERR_LISTEN"
      | "FRELAY_ERR_RUNNING"
      | "FRELAY_ERR_NOT_RUNNING"
      | "FRELAY_ERR_STOP_TIMEOUT"
      | "FRELAY_ERR_CONTROL"
      | "FRELAY_ERR_RELOAD_FAILED",
    message: string,
    details: readonly string[] = [],
  ) {
    super(code, message, details);
    this.name = "DaemonError";
  }
}

/** The party side (`frelay connect`, `connect()`): the relay or the peer could not be reached or verified. */
export class ClientError extends FrelayError {
  constructor(code: "FRELAY_ERR_CONNECT" | "FRELAY_ERR_PEER" | "FRELAY_ERR_REFUSED", message: string, options?: ErrorOptions) {
    super(code, message, [], options);
    this.name = "ClientError";
  }
}

/**
 * The relay refused the request: `status` is the HTTP status it sent (the stream protocol's
 * `Code`, or the HTTP/2 response status) and `reason` its one-line explanation.
 */
export class RefusalError extends ClientError {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string) {
    super("FRELAY_ERR_REFUSED", `relay refused (${status}): ${reason}`);
    this.name = "RefusalError";
    this.status = status;
    this.reason = reason;
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
