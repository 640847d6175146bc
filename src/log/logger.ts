import * as winston from "winston";
import { FileSink, type LogFileHealth } from "./file-sink";

/** Structured events: one JSON object per line with `event` and its fields. Never key material. */
export interface Logger {
  error(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  debug(event: string, fields?: Record<string, unknown>): void;
  child(module: string): Logger;
}

export type Level = "error" | "warn" | "info" | "debug";

class WinstonLogger implements Logger {
  constructor(private readonly w: winston.Logger) {}
  error(event: string, fields?: Record<string, unknown>): void {
    this.w.log("error", "", { event, ...fields });
  }
  warn(event: string, fields?: Record<string, unknown>): void {
    this.w.log("warn", "", { event, ...fields });
  }
  info(event: string, fields?: Record<string, unknown>): void {
    this.w.log("info", "", { event, ...fields });
  }
  debug(event: string, fields?: Record<string, unknown>): void {
    this.w.log("debug", "", { event, ...fields });
  }
  child(module: string): Logger {
    return new WinstonLogger(this.w.child({ module }));
  }
}

/** JSON lines without winston's empty `message`. */
const jsonLine = winston.format.combine(
  winston.format.timestamp(),
  winston.format((info) => {
    if (info.message === "") delete (info as { message?: unknown }).message;
    return info;
  })(),
  winston.format.json(),
);

export interface LoggerHandle {
  logger: Logger;
  setLevel(level: Level): void;
  /** Closes and reopens the log file (after logrotate moved it). */
  reopen(): void;
  /** Whether the log file takes lines (always ok without one). */
  health(): LogFileHealth;
  close(): Promise<void>;
}

export function createLogger(opts: { level: Level; file?: string; stdout: boolean; onProblem?: (message: string) => void }): LoggerHandle {
  const w = winston.createLogger({ level: opts.level, format: jsonLine, transports: [] });
  const sink = opts.file ? new FileSink(opts.file, opts.onProblem ?? ((m) => process.stderr.write(`frelay: ${m}\n`))) : undefined;
  if (sink) w.add(sink);
  if (opts.stdout) w.add(new winston.transports.Console());
  if (!sink && !opts.stdout) w.add(new winston.transports.Console({ silent: true }));
  return {
    logger: new WinstonLogger(w),
    setLevel(level) {
      w.level = level;
    },
    reopen() {
      sink?.reopen();
    },
    health() {
      return sink?.health ?? { ok: true };
    },
    close() {
      return new Promise((resolve) => {
        w.on("finish", () => resolve());
        w.end();
        setTimeout(resolve, 500).unref();
      });
    },
  };
}

/** A logger that drops everything: for library users and tests that do not care. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return silentLogger;
  },
};
