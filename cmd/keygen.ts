import { closeSync, constants, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { type Command, EXIT_FAILURE, EXIT_OK, fail, parse } from "./cli.ts";
import { formatKeyFile, newKey } from "../core/crypto/keyfile.ts";

export const keygen: Command = {
  name: "keygen",
  summary: "write a new cluster key file (mode 0600)",
  help: `Usage: tandem keygen -o FILE [--force]

Writes a new cluster key file with one random 256-bit key, readable by its
owner only. Copy the same file to every node. An existing file is kept unless
--force is given.

Options:
  -o, --output FILE   where to write the key
      --force         replace an existing file
  -h, --help          this help`,
  async main(argv) {
    const { values } = parse(argv, { output: { type: "string", short: "o" }, force: { type: "boolean" } });
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (!values.output) fail("missing -o FILE");
    const file = values.output;
    const text = formatKeyFile({ active: 1, keys: new Map([[1, await newKey()]]) });
    // A fresh file, 0600 from the start (the secret is never on disk with a wider mode), that
    // nothing else can be at (O_EXCL) or point from (O_NOFOLLOW); then put in place at once:
    // link(2) keeps whatever is already at FILE, even a dangling link; rename(2) replaces it.
    const tmp = `${file}.tmp.${process.pid}`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      if (values.force) renameSync(tmp, file);
      else linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      console.error(`tandem keygen: ${file} exists; keeping it (use --force to replace it)`);
      return EXIT_FAILURE;
    } finally {
      rmSync(tmp, { force: true });
    }
    console.log(`wrote ${file}`);
    return EXIT_OK;
  },
};
