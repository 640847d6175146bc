/**
 * Finds the line on which the value at a JSON path starts, so config errors can point at it.
 * A small scanner over already-valid JSON: it only tracks keys, indexes and line numbers.
 */
export function lineOfPath(text: string, path: readonly (string | number)[]): number | undefined {
  let i = 0;
  let line = 1;
  const skipWs = () => {
    while (i < text.length && /\s/.test(text[i] as string)) {
      if (text[i] === "\n") line++;
      i++;
    }
  };
  const readString = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const skipValue = (): void => {
    skipWs();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      skipWs();
      while (i < text.length && text[i] !== close) {
        if (c === "{") {
          readString();
          skipWs();
          i++; // colon
        }
        skipValue();
        skipWs();
        if (text[i] === ",") i++;
        skipWs();
      }
      i++;
    } else if (c === '"') {
      readString();
    } else {
      while (i < text.length && !/[\s,\]}]/.test(text[i] as string)) i++;
    }
  };
  const descend = (depth: number): number | undefined => {
    skipWs();
    if (depth === path.length) return line;
    const want = path[depth];
    const c = text[i];
    if (c === "{") {
      i++;
      for (;;) {
        skipWs();
        if (text[i] !== '"') return undefined;
        const key = readString();
        skipWs();
        i++;
        if (key === want) return descend(depth + 1);
        skipValue();
        skipWs();
        if (text[i] !== ",") return undefined;
        i++;
      }
    }
    if (c === "[" && typeof want === "number") {
      i++;
      for (let n = 0; ; n++) {
        skipWs();
        if (n === want) return descend(depth + 1);
        skipValue();
        skipWs();
        if (text[i] !== ",") return undefined;
        i++;
      }
    }
    return undefined;
  };
  try {
    return descend(0);
  } catch {
    return undefined;
  }
}
