import { isIdentity } from "../pki/identity";

export const MAX_REQUEST_BYTES = 4096;

export type ScanResult =
  | { kind: "incomplete" }
  | { kind: "error"; reason: string }
  | { kind: "complete"; dest: string; tag: string };

export type ObjectScan = { kind: "incomplete" } | { kind: "error"; reason: string } | { kind: "complete"; text: string };

const HINT = `send {"DestParty":"<party>.<user>","Tag":"<tag>"}`;

/** The stream protocol's request, read with a JsonObjectScanner and validated. */
export class RequestScanner {
  private readonly scanner = new JsonObjectScanner(MAX_REQUEST_BYTES, "request", HINT);
  private first = true;
  push(chunk: Buffer): ScanResult {
    if (this.first) {
      this.first = false;
      // A client writes its request in one piece, so it usually arrives whole in one record:
      // then JSON.parse alone decides it, at a fraction of the byte-by-byte scan's cost on the
      // pairing's critical path. It accepts exactly what the scan would (JSON whitespace around
      // one object); anything else, a request in pieces included, goes through the scan, which
      // also says what is wrong.
      const whole = chunk.length <= MAX_REQUEST_BYTES ? parseObject(chunk.toString("utf8")) : undefined;
      if (whole) return validateBody(whole);
    }
    const r = this.scanner.push(chunk);
    return r.kind === "complete" ? validateRequest(r.text) : r;
  }
}

/** The JSON object `text` is, if it is exactly one. */
function parseObject(text: string): object | undefined {
  try {
    const body: unknown = JSON.parse(text);
    return body !== null && typeof body === "object" && !Array.isArray(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds the end of one JSON object as its bytes arrive, in any number of pieces, without
 * parsing anything twice: it tracks nesting and strings only. Whitespace after the object in
 * the same piece (a Go client's trailing newline) is allowed; anything else is an error.
 */
export class JsonObjectScanner {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;

  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
    private readonly hint: string,
  ) {}

  push(chunk: Buffer): ObjectScan {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (!this.started) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b) return { kind: "error", reason: `malformed ${this.what}: not a JSON object (${this.hint})` };
        this.started = true;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--this.depth === 0) return this.finish(chunk, i + 1);
      }
      if (this.length + i + 1 > this.maxBytes) {
        return { kind: "error", reason: `malformed ${this.what}: larger than ${this.maxBytes} bytes` };
      }
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
    return { kind: "incomplete" };
  }

  private finish(chunk: Buffer, end: number): ObjectScan {
    if (chunk.subarray(end).toString("latin1").trim() !== "") {
      return { kind: "error", reason: `malformed ${this.what}: data after the ${this.what} (wait for the reply before sending)` };
    }
    this.chunks.push(chunk.subarray(0, end));
    return { kind: "complete", text: Buffer.concat(this.chunks).toString("utf8") };
  }
}

export function validateRequest(text: string): ScanResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: "error", reason: `malformed request: invalid JSON (${HINT})` };
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    return { kind: "error", reason: `malformed request: not a JSON object (${HINT})` };
  }
  return validateBody(body);
}

function validateBody(body: object): ScanResult {
  const { DestParty: dest, Tag: tag } = body as { DestParty?: unknown; Tag?: unknown };
  if (typeof dest !== "string" || !isIdentity(dest)) {
    return { kind: "error", reason: `malformed request: DestParty must be an identity like "1.user1" (${HINT})` };
  }
  if (tag !== undefined && tag !== null && typeof tag !== "string") {
    return { kind: "error", reason: "malformed request: Tag must be a string" };
  }
  return { kind: "complete", dest, tag: typeof tag === "string" ? tag : "" };
}
