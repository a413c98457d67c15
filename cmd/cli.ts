/** What every subcommand shares: argument parsing, usage errors, exit codes. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import pkg from "../package.json" with { type: "json" };

export const VERSION = pkg.version;

/** Exit codes: 0 done, 1 failed while running, 2 bad usage or bad config. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface Command {
  name: string;
  summary: string;
  /** Full help text, printed by `tandem NAME --help`. */
  help: string;
  main(argv: string[]): Promise<number>;
}

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with --help built in; unknown options and bad values become UsageErrors. */
export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function fail(message: string): never {
  throw new UsageError(message);
}

/** Run a command's main, turning UsageErrors into exit 2 with a pointer to --help. */
export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  try {
    return await cmd.main(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tandem ${cmd.name}: ${e.message}\nSee 'tandem ${cmd.name} --help'.\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
