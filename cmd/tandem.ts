#!/usr/bin/env bun
/** The one entry point: `tandem SUBCOMMAND [OPTIONS]`. */
import { type Command, EXIT_OK, EXIT_USAGE, VERSION, runCommand } from "./cli.ts";
import { check } from "./check.ts";
import { config } from "./config.ts";
import { importCommand } from "./import.ts";
import { keygen } from "./keygen.ts";
import { lab } from "./lab.ts";
import { run } from "./run.ts";
import { cleanup, clear, disable, enable, maintenance, move, online, standby } from "./admin.ts";
import { status } from "./status.ts";
import { events } from "./events.ts";
import { simulate } from "./simulate.ts";
import { director } from "./director.ts";
import { proxy } from "./proxy.ts";
import { volume } from "./volume.ts";

const COMMANDS: Command[] = [run, check, status, events, standby, online, move, clear, cleanup, disable, enable, maintenance, simulate, director, proxy, volume, keygen, config, importCommand, lab];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `tandem ${VERSION}: two Linux machines, one service that stays up.

Usage: tandem COMMAND [OPTIONS]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Options:
  -h, --help     this help ('tandem COMMAND --help' for a command's)
  -V, --version  print the version`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    console.log(usage());
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === "-V" || first === "--version") {
    console.log(`tandem ${VERSION}`);
    return EXIT_OK;
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  if (!cmd) {
    process.stderr.write(`tandem: unknown command "${first}"\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  return runCommand(cmd, rest);
}

process.exitCode = await main(process.argv.slice(2));
