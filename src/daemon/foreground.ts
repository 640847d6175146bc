import type { Output } from "../cli/output";
import { RelayProcess } from "./lifecycle";

/** `frelay start --fg`: runs until SIGTERM/SIGINT; SIGHUP reloads; SIGUSR1 reopens the log. */
export async function runForeground(configFile: string, io: Output): Promise<number> {
  const proc = await RelayProcess.start(configFile, { stdout: true });
  const addr = proc.server.address();
  io.err(`frelay: listening on ${addr ? `${addr.address}:${addr.port}` : proc.config.address.text} (config ${configFile}); Ctrl-C stops`);
  return new Promise<number>((resolve) => {
    const stop = () => {
      void proc.stop().then(() => {
        removeSignals();
        resolve(0);
      });
    };
    const hup = () => void proc.reload();
    // Also keeps Node from opening its inspector on SIGUSR1.
    const usr1 = () => proc.logs.reopen();
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGHUP", hup);
    process.on("SIGUSR1", usr1);
    function removeSignals(): void {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      process.off("SIGHUP", hup);
      process.off("SIGUSR1", usr1);
    }
  });
}
