/** The log file as a winston transport that never holds up relaying, and counts the lines a failing disk loses. */
import * as fs from "node:fs";
import Transport from "winston-transport";
import { MESSAGE } from "triple-beam";

/** Whether the log file takes lines; while it does not, how long and how many were lost. */
export type LogFileHealth = { ok: true } | { ok: false; error: string; since: string; dropped: number };

/** Lines queued for a slow disk beyond this are dropped (and counted), never held in memory. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
const RETRY_MS = 10_000;

/**
 * How the log file is opened: appended to, created 0640 if absent, and never through a symbolic
 * link (ELOOP instead), so whoever can write the log's folder cannot point the relay's writes at
 * another file.
 */
export const LOG_OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;
export const LOG_FILE_MODE = 0o640;

/**
 * The log file as a winston transport. winston's own File transport swallows write errors
 * (a full disk, a path that is a folder), so a relay would go on silently losing its log. This
 * one notices: relaying never waits for the log, lines are dropped and counted while the file
 * cannot be written, `onProblem` says so once (stderr, so journald keeps it), and the file is
 * retried every 10 s until it takes lines again.
 */
export class FileSink extends Transport {
  private stream: fs.WriteStream | undefined;
  private failure: { error: string; since: string; dropped: number } | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    private readonly onProblem: (message: string) => void,
  ) {
    super();
    this.open();
  }

  get health(): LogFileHealth {
    return this.failure ? { ok: false, ...this.failure } : { ok: true };
  }

  private open(): void {
    const stream = fs.createWriteStream(this.file, { flags: LOG_OPEN_FLAGS as unknown as string, mode: LOG_FILE_MODE });
    stream.on("error", (err: NodeJS.ErrnoException) => this.failed(stream, err));
    this.stream = stream;
  }

  private failed(stream: fs.WriteStream, err: NodeJS.ErrnoException): void {
    if (stream !== this.stream) return;
    stream.destroy();
    this.stream = undefined;
    const error = err.message;
    if (!this.failure) {
      this.failure = { error, since: new Date().toISOString(), dropped: 0 };
      this.onProblem(`log file ${this.file} cannot be written (${error}); relaying continues, log lines are dropped until it can be written again (retried every ${RETRY_MS / 1000} s)`);
    }
    this.retry ??= setTimeout(() => {
      this.retry = undefined;
      this.open();
    }, RETRY_MS);
    this.retry.unref();
  }

  override log(info: Record<string | symbol, unknown>, done: () => void): void {
    const stream = this.stream;
    const line = `${String(info[MESSAGE])}\n`;
    if (!stream || stream.writableLength > MAX_QUEUED_BYTES) {
      if (this.failure) this.failure.dropped++;
      done();
      return;
    }
    stream.write(line, (err) => {
      if (!err && this.failure && stream === this.stream) {
        this.onProblem(`log file ${this.file} is written again (${this.failure.dropped} lines were lost since ${this.failure.since})`);
        this.failure = undefined;
      }
    });
    done();
  }

  /** After logrotate moved the file: new lines go to a new file at the same path. */
  reopen(): void {
    const old = this.stream;
    this.open();
    old?.end();
  }

  /**
   * Runs when the logger ends (stop): the file's own stream is ended and awaited, so the last
   * lines (`refused`, `stopped`) are in the file before the process exits.
   */
  override _final(callback: (error?: Error | null) => void): void {
    if (this.retry) clearTimeout(this.retry);
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return callback();
    stream.once("close", () => callback());
    stream.end();
  }

  /**
   * For a dying process (uncaught exception): one line appended synchronously, through its own
   * descriptor, since the process will not live to flush the stream.
   */
  writeSync(line: string): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(this.file, LOG_OPEN_FLAGS, LOG_FILE_MODE);
      fs.writeSync(fd, line);
    } catch {
      // nothing more can be done; stderr has it too
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  override close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.stream?.end();
    this.stream = undefined;
  }
}
