import { consoleOutput } from "./output";
import { run } from "./program";

/** The only place that ends the process with a code. */
export function main(argv: string[]): void {
  run(argv, consoleOutput).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`frelay: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
