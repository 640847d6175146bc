/** Where commands write: injectable so the CLI can be driven in-process. */
export interface Output {
  // Function properties, not methods: commands pass `io.err` on as a plain callback.
  out: (line: string) => void;
  err: (line: string) => void;
}

export const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
