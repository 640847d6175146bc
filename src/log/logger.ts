import * as fs from "node:fs";
import * as winston from "winston";
import { FileSink, type LogFileHealth } from "./file-sink";
import { jsonLine } from "./line-format";

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
    this.emit("error", event, fields);
  }
  warn(event: string, fields?: Record<string, unknown>): void {
    this.emit("warn", event, fields);
  }
  info(event: string, fields?: Record<string, unknown>): void {
    this.emit("info", event, fields);
  }
  debug(event: string, fields?: Record<string, unknown>): void {
    this.emit("debug", event, fields);
  }
  /**
   * A `message` field is the line's message. Handed to winston inside the fields, winston would
   * append it to the (empty) message argument with a space, and the line would read " text".
   */
  private emit(level: Level, event: string, fields?: Record<string, unknown>): void {
    const { message, ...rest } = fields ?? {};
    this.w.log(level, typeof message === "string" ? message : message === undefined ? "" : JSON.stringify(message), { event, ...rest });
  }
  child(module: string): Logger {
    return new WinstonLogger(this.w.child({ module }));
  }
}

export interface LoggerHandle {
  logger: Logger;
  setLevel(level: Level): void;
  /** Closes and reopens the log file (after logrotate moved it). */
  reopen(): void;
  /** From now on lines go to `file` (a reload changed log.file); the old file is closed. */
  switchFile(file: string): void;
  /** Whether the log file takes lines (always ok without one). */
  health(): LogFileHealth;
  /**
   * A last line written at once, synchronously, to the log file and stdout (when logging
   * there): for an uncaught exception, after which the process does not live to flush.
   */
  lastWords(event: string, fields: Record<string, unknown>): void;
  /** Ends the log: resolves once every line is in the file (bounded, so a stuck disk cannot hold a stop). */
  close(): Promise<void>;
}

const CLOSE_BOUND_MS = 5000;

export function createLogger(opts: { level: Level; file?: string; stdout: boolean; onProblem?: (message: string) => void }): LoggerHandle {
  const w = winston.createLogger({ level: opts.level, format: jsonLine, transports: [] });
  const onProblem = opts.onProblem ?? ((m: string) => process.stderr.write(`frelay: ${m}\n`));
  let sink = opts.file ? new FileSink(opts.file, onProblem) : undefined;
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
    switchFile(file) {
      const old = sink;
      sink = new FileSink(file, onProblem);
      w.add(sink);
      if (old) {
        w.remove(old);
        old.end();
      }
    },
    health() {
      return sink?.health ?? { ok: true };
    },
    lastWords(event, fields) {
      const line = `${JSON.stringify({ level: "error", event, ...fields, timestamp: new Date().toISOString() })}\n`;
      sink?.writeSync(line);
      if (opts.stdout) {
        try {
          fs.writeSync(1, line);
        } catch {
          // stdout gone
        }
      }
    },
    close() {
      const ended = sink ? new Promise<void>((resolve) => sink!.once("finish", () => resolve())) : new Promise<void>((resolve) => w.once("finish", () => resolve()));
      w.end();
      return Promise.race([ended, new Promise<void>((resolve) => setTimeout(resolve, CLOSE_BOUND_MS).unref())]);
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
