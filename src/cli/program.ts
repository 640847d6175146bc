/** The command tree (commander): parses flags, runs one command function, and turns what it returns or throws into an exit code. */
import { Command, CommanderError, Option } from "commander";
import { configPath } from "../config/load";
import { FrelayError, UsageError } from "../errors";
import { cmdConnect, type ConnectFlags } from "./connect-command";
import type { Output } from "./output";
import { cmdCertNode } from "./cluster-commands";
import { cmdCertParty, cmdCertUser, cmdCheck, cmdCrlRenew, cmdInit, cmdInitFromFlock, cmdRevoke } from "./pki-commands";
import { maybeInitForDemo } from "./demo";
import { cmdReload, cmdStart, cmdStatus, cmdStop } from "./daemon-commands";
import { cmdRouteAdd, cmdRouteLs, cmdRouteRm } from "./route-commands";
import { VERSION } from "../version";

type Action = () => number | Promise<number>;
/** The flags a command function takes (commander hands them over untyped): its parameter N. */
type Flags<F extends (...args: never[]) => unknown, N extends number> = Parameters<F>[N];

/**
 * Builds the command tree. Each action *returns* an exit code; the caller maps thrown errors
 * to codes and prints them. Nothing here calls process.exit.
 */
export function buildProgram(io: Output, setResult: (action: Action) => void): Command {
  const program = new Command("frelay")
    .description("relay appliance: pairs two mutually-authenticated parties and splices their TCP streams")
    .version(VERSION, "-V, --version")
    .option("-c, --config <path>", "config file (default: $FRELAY_CONFIG or ./config.json)")
    .showHelpAfterError("(run frelay help <command> for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // commander's own usage errors (unknown command, missing argument or option) in the form
      // and with the code of every other CLI error (docs/errors.md): subcommands inherit this.
      outputError: (s, write) => write(`frelay: ${s.trim().replace(/^error: /, "")} [FRELAY_ERR_USAGE]`),
    });
  const cfg = () => configPath(program.opts<{ config?: string }>().config);
  const collect = (v: string, prev: string[]) => [...prev, v];

  program
    .command("init")
    .description("create the relay CA, the relay certificate and config.json (only what is missing)")
    .option("--hostname <name>", "extra DNS name or IP for the relay certificate (repeatable)", collect, [])
    .option("--bits <n>", "RSA key size: 2048, 3072 or 4096", "2048")
    .option("--key-type <type>", "rsa (the default, what Flock's clients use) or ec (ECDSA P-256: handshakes cost the relay far less CPU)", "rsa")
    .option("--force", "replace existing keys, certificates and config")
    .option("--from-flock <certs>", "adopt a Flock fr-adm certs folder as it lies: write config.json for it, with routes between each user's parties")
    .action((o: Flags<typeof cmdInit, 1> & { fromFlock?: string }) => setResult(() => (o.fromFlock ? cmdInitFromFlock(cfg(), o.fromFlock, o, io) : cmdInit(cfg(), o, io))));

  const cert = program.command("cert").description("make and revoke certificates");
  cert
    .command("user <user>")
    .description("create a user's CA (signs that user's end-to-end certificates)")
    .option("--bits <n>", "RSA key size: 2048, 3072 or 4096", "2048")
    .option("--key-type <type>", "rsa (the default, what Flock's clients use) or ec (ECDSA P-256: handshakes cost the relay far less CPU)", "rsa")
    .option("--force", "replace an existing user CA")
    .action((user: string, o: Flags<typeof cmdCertUser, 2>) => setResult(() => cmdCertUser(cfg(), user, o, io)));
  cert
    .command("party <party>")
    .description("create a party's relay certificate, end-to-end certificate and party.env")
    .requiredOption("--user <user>", "the user (tenant) the party belongs to")
    .option("--relay <host:port>", "RELAY written to party.env (default: from config.json)")
    .option("--relay-ca-dir <dir>", "folder holding relay-ca.pem and relay-ca.key (default: certs/)")
    .option("--user-ca-dir <dir>", "folder holding the user's ca.pem and ca.key (default: certs/users/<user>/)")
    .option("--bits <n>", "RSA key size: 2048, 3072 or 4096", "2048")
    .option("--key-type <type>", "rsa (the default, what Flock's clients use) or ec (ECDSA P-256: handshakes cost the relay far less CPU)", "rsa")
    .option("--force", "replace existing files")
    .action((party: string, o: Flags<typeof cmdCertParty, 2>) => setResult(() => cmdCertParty(cfg(), party, o, io)));
  cert
    .command("node <name>")
    .description("create a node certificate for the scale-out link (signed by the relay CA; never a party)")
    .option("--relay-ca-dir <dir>", "folder holding relay-ca.pem and relay-ca.key (default: certs/)")
    .option("--bits <n>", "RSA key size: 2048, 3072 or 4096", "2048")
    .option("--force", "replace existing files")
    .action((name: string, o: Flags<typeof cmdCertNode, 2>) => setResult(() => cmdCertNode(cfg(), name, o, io)));
  cert
    .command("revoke [identity]")
    .description("revoke every relay certificate issued to an identity, or one by --serial (adds them to the CRL)")
    .option("--serial <hex>", "revoke the relay certificate with this serial number instead")
    .option("--relay-ca-dir <dir>", "folder holding relay-ca.pem and relay-ca.key (default: certs/)")
    .action((identity: string | undefined, o: Flags<typeof cmdRevoke, 2>) => setResult(() => cmdRevoke(cfg(), identity, o, io)));
  cert
    .command("crl")
    .description("manage the CRL")
    .command("renew")
    .description("re-sign the CRL with the same entries and a new nextUpdate")
    .option("--days <n>", "days until the new nextUpdate (default 365)")
    .option("--relay-ca-dir <dir>", "folder holding relay-ca.pem and relay-ca.key (default: certs/)")
    .action((o: Flags<typeof cmdCrlRenew, 1>) => setResult(() => cmdCrlRenew(cfg(), o, io)));

  program
    .command("check")
    .description("validate config.json and every file it names; prints config OK or every error")
    .action(() => setResult(() => cmdCheck(cfg(), io)));

  program
    .command("start")
    .description("start the relay in the background; returns once it is listening (--fg: stay in the foreground)")
    .option("--fg", "run in the foreground, logging to stdout too")
    .option("--workers <n>", "run n relay processes on the same address, joined through the cluster's Redis (default: cluster.workers, else 1)")
    .addOption(new Option("--init-if-missing", "create a development PKI and config first if there is none").hideHelp())
    .addOption(new Option("--daemon-child", "internal: the detached child of frelay start").hideHelp())
    .addOption(new Option("--worker", "internal: one of the processes of --workers").hideHelp())
    .action((o: { fg?: boolean; initIfMissing?: boolean; daemonChild?: boolean; worker?: boolean; workers?: string }) =>
      setResult(async () => {
        if (o.initIfMissing) maybeInitForDemo(cfg(), io);
        return cmdStart(cfg(), o, io);
      }),
    );
  program
    .command("stop")
    .description("graceful stop: drain sessions, wait until the process has exited")
    .action(() => setResult(() => cmdStop(cfg(), io)));
  program
    .command("status")
    .description("is it running? pid, listeners, sessions, bytes, last reload (exit 0 running, 3 stopped, 1 stale pidfile)")
    .option("--json", "machine-readable output")
    .action((o: { json?: boolean }) => setResult(() => cmdStatus(cfg(), o, io)));
  program
    .command("reload")
    .description("reload config, routes, certificates and CRL; prints reloaded or why the old config was kept")
    .action(() => setResult(() => cmdReload(cfg(), io)));

  const route = program.command("route").description("list or edit the routes in config.json (atomic; the watcher applies it)");
  route.command("ls").description("list routes").action(() => setResult(() => cmdRouteLs(cfg(), io)));
  route
    .command("add <a> <b>")
    .description("allow a and b to talk (identities or *.<user> wildcards)")
    .action((a: string, b: string) => setResult(() => cmdRouteAdd(cfg(), a, b, io)));
  route
    .command("rm <a> <b>")
    .description("remove the route between a and b; their sessions close")
    .action((a: string, b: string) => setResult(() => cmdRouteRm(cfg(), a, b, io)));

  program
    .command("connect [dest]")
    .description("the party side: connect to a peer through the relay (stdio, --listen or --forward)")
    .option("--relay <host:port>", "relay address ($RELAY)")
    .option("--relay-ca <pem|path>", "relay CA ($RELAY_CA)")
    .option("--relay-name <name>", "name the relay's certificate must carry ($RELAY_NAME; default flockrelay or frelay)")
    .option("--relay-cert <pem|path>", "this party's relay certificate ($RELAY_CERT)")
    .option("--relay-key <pem|path>", "its key ($RELAY_KEY)")
    .option("--user-ca <pem|path>", "the user CA ($USER_CA)")
    .option("--party-cert <pem|path>", "this party's end-to-end certificate ($PARTY_CERT)")
    .option("--party-key <pem|path>", "its key ($PARTY_KEY)")
    .option("--tag <tag>", "pairing tag ($TAG)")
    .option("--h2", "use the HTTP/2 transport (direct ALPN h2, or through an HTTP/2 front)")
    .option("--path <prefix>", "with --h2: the path prefix the relay or front serves", "/frelay")
    .option("--listen <host:port>", "accept local connections and relay each one")
    .option("--forward <host:port>", "connect each relayed session to this local service")
    .option("--timeout <seconds>", "give up if not paired within this time (default 120)")
    .action((dest: string | undefined, o: ConnectFlags) => setResult(() => cmdConnect(dest ?? o.dest, o, io)));

  program
    .command("help [command...]")
    .description("show help for a command (also a nested one: help cert party)")
    .action((names: string[]) =>
      setResult(() => {
        let cmd: Command = program;
        for (const [i, name] of names.entries()) {
          const sub = cmd.commands.find((c) => c.name() === name);
          if (!sub) throw new UsageError(`unknown command "${names.slice(0, i + 1).join(" ")}" (run frelay help${i ? ` ${names.slice(0, i).join(" ")}` : ""})`);
          cmd = sub;
        }
        io.out(cmd.helpInformation().trimEnd());
        return 0;
      }),
    );
  program.addHelpCommand(false);
  return program;
}

/** Runs the CLI and returns the exit code; errors are printed here, once. */
export async function run(argv: readonly string[], io: Output): Promise<number> {
  let action: Action | undefined;
  const program = buildProgram(io, (a) => {
    action = a;
  });
  try {
    await program.parseAsync([...argv]);
    if (!action) {
      io.out(program.helpInformation().trimEnd());
      return 2;
    }
    return await action();
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: Output): number {
  if (err instanceof CommanderError) {
    // commander already printed its message; help and version are successes.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof FrelayError) {
    // The code goes last, so the sentence reads first; docs/errors.md explains each one.
    io.err(`frelay: ${err.message} [${err.code}]`);
    for (const d of err.details) io.err(`  ${d}`);
    return err.code === "FRELAY_ERR_USAGE" ? 2 : 1;
  }
  const e = err as NodeJS.ErrnoException;
  io.err(`frelay: unexpected error: ${e?.message ?? String(err)}${process.env["FRELAY_DEBUG"] ? `\n${e?.stack}` : " (set FRELAY_DEBUG=1 for details)"}`);
  return 1;
}
