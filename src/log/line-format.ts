import * as winston from "winston";
import { MESSAGE } from "triple-beam";

/**
 * The relay's log line: one JSON object, keys in sorted order (nested objects too), `timestamp`
 * added as an ISO date, winston's empty `message` left out. These bytes are the log format that
 * operators' tools and the tests read.
 *
 * It was winston's `combine(timestamp(), <drop empty message>, json())`; the same bytes come
 * from one pass here for the lines the relay writes per session (every value a string, number,
 * boolean or null), since a session writes three of them. Anything else (a nested object, an
 * array, a bigint) still goes through logform's json(), which is what defines the bytes.
 */
export function formatLine(info: Record<string, unknown>): string {
  if (!info["timestamp"]) info["timestamp"] = new Date().toISOString();
  if (info["message"] === "") delete info["message"];
  const keys = Object.keys(info).sort();
  let out = "{";
  for (const key of keys) {
    const v = info[key];
    let text: string;
    switch (typeof v) {
      case "string":
        text = JSON.stringify(v);
        break;
      case "number":
        text = Number.isFinite(v) ? String(v) : "null";
        break;
      case "boolean":
        text = v ? "true" : "false";
        break;
      case "undefined":
      case "function":
      case "symbol":
        continue; // left out, as JSON leaves them out
      default:
        if (v !== null) return general(info);
        text = "null";
    }
    out += `${out.length > 1 ? "," : ""}${JSON.stringify(key)}:${text}`;
  }
  return `${out}}`;
}

const json = winston.format.json();

function general(info: Record<string, unknown>): string {
  return String((json.transform(info as winston.Logform.TransformableInfo, json.options) as Record<string | symbol, unknown>)[MESSAGE]);
}

/** formatLine as a winston format: the logger's whole format chain. */
export const jsonLine = winston.format((info) => {
  (info as Record<string | symbol, unknown>)[MESSAGE] = formatLine(info);
  return info;
})();
