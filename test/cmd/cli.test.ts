import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, tempDir } from "../helpers.ts";
import { parseKeyFile } from "../../core/crypto/keyfile.ts";
import pkg from "../../package.json" with { type: "json" };

const tmp = tempDir("cli");
afterAll(tmp.cleanup);

describe("the executable", () => {
  test("--version and --help", async () => {
    const v = await tandem(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(`tandem ${pkg.version}`);
    const h = await tandem(["--help"]);
    expect(h.code).toBe(0);
    for (const c of ["run", "check", "keygen", "config"]) expect(h.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
  });

  test("no command, or an unknown one, is a usage error", async () => {
    expect((await tandem([])).code).toBe(2);
    const u = await tandem(["frobnicate"]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown command "frobnicate"');
  });

  test("every subcommand has --help", async () => {
    const h = await tandem(["--help"]);
    const names = [...h.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names) {
      const r = await tandem([name, "--help"]);
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toStartWith(`Usage: tandem ${name}`);
    }
  });

  test("an unknown option is a usage error that points at --help", async () => {
    const r = await tandem(["check", "--frob"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("See 'tandem check --help'");
  });
});

describe("keygen", () => {
  test("writes a key readable by its owner only, and keeps an existing one", async () => {
    const file = join(tmp.dir, "k1");
    const r = await tandem(["keygen", "-o", file]);
    expect(r.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const keys = parseKeyFile(readFileSync(file, "utf8"));
    expect(keys.active).toBe(1);
    expect(keys.keys.get(1)!.length).toBe(32);
    const before = readFileSync(file, "utf8");
    const again = await tandem(["keygen", "-o", file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("exists");
    expect(readFileSync(file, "utf8")).toBe(before);
    expect((await tandem(["keygen", "-o", file, "--force"])).code).toBe(0);
    expect(readFileSync(file, "utf8")).not.toBe(before);
  });
});

describe("keygen writes a fresh file and renames it: a link at the output is replaced, never written through", () => {
  test("--force over a link to another file leaves that file alone", async () => {
    const file = join(tmp.dir, "k-link");
    const victim = join(tmp.dir, "victim");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, file);
    expect((await tandem(["keygen", "-o", file, "--force"])).code).toBe(0);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(file).isFile()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(parseKeyFile(readFileSync(file, "utf8")).active).toBe(1);
  });

  test("without --force, a dangling link is an existing file: kept, and nothing made where it points", async () => {
    const file = join(tmp.dir, "k-dangling");
    const target = join(tmp.dir, "made-through-link");
    symlinkSync(target, file);
    const r = await tandem(["keygen", "-o", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exists");
    expect(existsSync(target)).toBe(false);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readdirSync(tmp.dir).filter((f) => f.includes(".tmp"))).toEqual([]);
  });
});

describe("check", () => {
  const dir = tmp.dir;
  /** examples/pair.toml in the test's dir, with its key and token there and state_dir `stateDir` (relative to it). */
  const setup = async (stateDir = "state") => {
    writeFileSync(join(dir, "pair.toml"), readFileSync("examples/pair.toml", "utf8").replace(/^state_dir = .*$/m, `state_dir = "${stateDir}"`));
    if (!existsSync(join(dir, "cluster.key"))) await tandem(["keygen", "-o", join(dir, "cluster.key")]);
    writeFileSync(join(dir, "api.token"), "0123456789abcdef0123456789abcdef\n", { mode: 0o600 });
    return join(dir, "pair.toml");
  };
  const stateLine = readFileSync("examples/pair.toml", "utf8").split("\n").findIndex((l) => l.startsWith("state_dir = ")) + 1;

  test("a valid config exits 0 and prints its warnings", async () => {
    const file = await setup();
    const r = await tandem(["check", "-c", file, "--node", "alpha"]);
    expect(r.stderr).toContain("warning:");
    expect(r.stderr).toContain("no arbiter and no fencing");
    expect(r.stdout).toContain("valid (cluster pair, 2 nodes");
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("state_dir");
    expect(existsSync(join(dir, "state"))).toBe(false);
  });

  test("a bad config exits 2 with every problem", async () => {
    const file = join(dir, "bad.toml");
    const text = readFileSync(await setup(), "utf8").replace('roles = ["member"]', 'role = ["member"]').replace("port = 9480", 'port = "high"');
    writeFileSync(file, text);
    const lineOf = (needle: string) => text.split("\n").findIndex((l) => l.startsWith(needle)) + 1;
    const [roleLine, portLine] = [lineOf("role = "), lineOf('port = "high"')];
    const r = await tandem(["check", "-c", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:${roleLine}: nodes[0].role: unknown key "role"; expected one of name, address, roles, attributes, capacity (did you mean "roles"?)`);
    expect(r.stderr).toContain(`${file}:${portLine}: api.port: invalid value; expected a whole number from 1 to 65535; found "high"`);
    const json = await tandem(["check", "-c", file, "--json"]);
    const out = JSON.parse(json.stdout) as { valid: boolean; problems: Array<{ path: unknown[]; line: number }> };
    expect(out.valid).toBe(false);
    expect(out.problems.map((p) => p.line)).toEqual([roleLine, portLine]);
  });

  test("a key file readable by others, or missing, is refused", async () => {
    const file = await setup();
    chmodSync(join(dir, "cluster.key"), 0o644);
    const r = await tandem(["check", "-c", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("key_file:");
    expect(r.stderr).toContain("is readable by others; expected mode 0600; found mode 0644");
    chmodSync(join(dir, "cluster.key"), 0o600);
    writeFileSync(join(dir, "nokey.toml"), readFileSync(file, "utf8").replace('key_file = "cluster.key"', 'key_file = "absent.key"'));
    const m = await tandem(["check", "-c", join(dir, "nokey.toml")]);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain("tandem keygen -o FILE");
  });

  test("an unknown --node is named with a suggestion", async () => {
    const r = await tandem(["check", "-c", await setup(), "--node", "alpah"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no node named "alpah"');
    expect(r.stderr).toContain('did you mean "alpha"?');
  });

  test("a state dir that tandem run could not make or write is an error at its line: a file, a path under a file, a dir even root may not write", async () => {
    writeFileSync(join(dir, "plain"), "");
    const cases: Array<[string, string]> = [
      ["plain", `state_dir: ${join(dir, "plain")} is not a directory; expected a directory, or a path whose nearest existing parent is one`],
      ["plain/state", `state_dir: ${join(dir, "plain", "state")} cannot be made: ${join(dir, "plain")} is not a directory`],
      // The kernel refuses writes in /proc/sys to root too.
      ["/proc/sys", "state_dir: /proc/sys is not writable by this user; found EACCES"],
      ["/proc/sys/tandem", "state_dir: /proc/sys/tandem cannot be made: /proc/sys is not writable by this user; found EACCES"],
    ];
    for (const [stateDir, error] of cases) {
      const file = await setup(stateDir);
      const r = await tandem(["check", "-c", file, "--node", "alpha"]);
      expect([stateDir, r.code]).toEqual([stateDir, 2]);
      expect(r.stderr).toContain(`error: ${file}:${stateLine}: ${error}`);
      expect(r.stderr).toContain("(tandem run keeps alpha.state.json there; set state_dir to a directory the user tandem runs as may write)");
    }
    // Without a node to check as, the state dir is not looked at.
    expect((await tandem(["check", "-c", join(dir, "pair.toml")])).code).toBe(0);
  });

  test("a state dir of another user, or writable by others, is an error at its line, as tandem run refuses it", async () => {
    const file = await setup("shared");
    mkdirSync(join(dir, "shared"), { recursive: true });
    chmodSync(join(dir, "shared"), 0o777);
    const open = await tandem(["check", "-c", file, "--node", "alpha"]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`error: ${file}:${stateLine}: state_dir: state dir ${join(dir, "shared")} is writable by others; expected mode 0700 (or no write but the owner's); found mode 0777 (chmod 700 ${join(dir, "shared")})`);
    chmodSync(join(dir, "shared"), 0o700);
    chownSync(join(dir, "shared"), 4242, 4242);
    const theirs = await tandem(["check", "-c", file, "--node", "alpha"]);
    expect(theirs.code).toBe(2);
    expect(theirs.stderr).toContain(`state_dir: state dir ${join(dir, "shared")} is owned by another user; expected owned by this user (uid ${process.getuid!()}) or root; found uid 4242`);
  });

  test("a state file tandem run would move aside is a warning, and left where it is", async () => {
    const file = await setup("kept");
    mkdirSync(join(dir, "kept"), { recursive: true });
    const alpha = join(dir, "kept", "alpha.state.json");
    writeFileSync(alpha, JSON.stringify({ format: 1, cluster: "other", node: "alpha", sections: {} }));
    writeFileSync(join(dir, "kept", "bravo.state.json"), "{not json");
    const r = await tandem(["check", "-c", file, "--node", "alpha"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`warning: ${file}:${stateLine}: state_dir: the state file ${alpha} cannot be used: it is cluster "other"'s, this is "pair" (tandem run would move it aside to ${alpha}.bad-<time> and start alpha with no state kept)`);
    const json = JSON.parse((await tandem(["check", "-c", file, "--node", "bravo", "--json"])).stdout) as { valid: boolean; warnings: Array<{ path: string[]; message: string }> };
    expect(json.valid).toBe(true);
    expect(json.warnings.find((w) => w.path[0] === "state_dir")?.message).toStartWith(`the state file ${join(dir, "kept", "bravo.state.json")} cannot be used: not JSON`);
    expect(readdirSync(join(dir, "kept")).sort()).toEqual(["alpha.state.json", "bravo.state.json"]);
  });

  test("a missing file", async () => {
    const r = await tandem(["check", "-c", join(dir, "nope.toml")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot read config file");
  });
});

test("config schema is the JSON Schema that check enforces", async () => {
  const r = await tandem(["config", "schema"]);
  expect(r.code).toBe(0);
  const schema = JSON.parse(r.stdout) as { $schema: string; properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  expect(schema.$schema).toContain("json-schema.org");
  expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["cluster", "key_file", "nodes", "api", "runtime"]));
  expect(schema.required).toEqual(expect.arrayContaining(["cluster", "key_file", "nodes"]));
  expect(schema.additionalProperties).toBe(false);
  expect((await tandem(["config", "scheme"])).code).toBe(2);
});

test("check refuses a key file that holds no usable key", async () => {
  const dir = tmp.dir;
  copyFileSync("examples/pair.toml", join(dir, "badkey.toml"));
  writeFileSync(join(dir, "badkey.toml"), readFileSync(join(dir, "badkey.toml"), "utf8").replace('key_file = "cluster.key"', 'key_file = "garbage.key"').replace(/token_file = .*\n/, ""));
  writeFileSync(join(dir, "garbage.key"), 'active = 1\n[[keys]]\nid = 1\nsecret = "c2hvcnQ="\n', { mode: 0o600 });
  const r = await tandem(["check", "-c", join(dir, "badkey.toml")]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("is not a usable key file: keys[0].secret: expected 32 bytes in base64");
});
