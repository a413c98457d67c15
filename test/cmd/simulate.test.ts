/** `tandem simulate` and the admin commands' argument handling, through the program itself. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir } from "../helpers.ts";

const tmp = tempDir("simulate");
const CONFIG = join(tmp.dir, "tandem.toml");
writeFileSync(
  CONFIG,
  `cluster = "sim"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.9.11"

[[nodes]]
name = "bravo"
address = "198.18.9.12"

[resources]
[[resources.group]]
name = "web"
members = ["vip", "httpd"]
preferred = "alpha"

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "198.18.9.50/24", interface = "eth0" }

[[resources.resource]]
name = "httpd"
agent = "lsb:apache2"
`,
);

beforeAll(async () => {
  await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")]);
});
afterAll(() => tmp.cleanup());

function state(name: string, value: unknown): string {
  const file = join(tmp.dir, name);
  writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

describe("tandem simulate", () => {
  test("without a state: everything up and stopped, the group starts on its preferred node, left to right", async () => {
    const r = await tandem(["simulate", "-c", CONFIG]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "start:vip@alpha  (web runs on alpha)",
      "monitor:vip@alpha  after start:vip@alpha  (vip runs on alpha)",
      "start:httpd@alpha  after start:vip@alpha  (web runs on alpha)",
      "monitor:httpd@alpha  after start:httpd@alpha  (httpd runs on alpha)",
    ]);
  });

  test("the holder lost uncleanly: the group is taken over on quorum, with the note saying so", async () => {
    const file = state("lost.json", {
      self: "bravo",
      nodes: { alpha: { membership: "unclean" } },
      states: { vip: { alpha: "started" }, httpd: { alpha: "started" } },
    });
    const r = await tandem(["simulate", "-c", CONFIG, "--state", file, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.actions.filter((a: { kind: string }) => a.kind === "start").map((a: { id: string }) => a.id)).toEqual(["start:vip@bravo", "start:httpd@bravo"]);
    expect(out.notes.join("\n")).toContain("alpha was lost uncleanly and fencing is not configured");
  });

  test("a bad state file is refused with the path of the bad field, an unknown node by name; exit 2", async () => {
    const bad = await tandem(["simulate", "-c", CONFIG, "--state", state("bad.json", { states: { vip: { alpha: "running" } } })]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("/states/vip/alpha");
    const unknown = await tandem(["simulate", "-c", CONFIG, "--state", state("unknown.json", { nodes: { charlie: {} } })]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("nodes.charlie: no member node of that name");
    const badName = await tandem(["simulate", "-c", CONFIG, "--state", state("badname.json", { states: { "../vip": { alpha: "started" } } })]);
    expect(badName.code).toBe(2);
    const garbage = await tandem(["simulate", "-c", CONFIG, "--state", state("garbage.json", "{not json")]);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain("not a readable JSON file");
  });
});

describe("tandem simulate: disabled, maintenance, failures of a class", () => {
  const running = { states: { vip: { alpha: "started" }, httpd: { alpha: "started" } } };

  test("a disabled group stops where it runs, right to left, and the note says why", async () => {
    const r = await tandem(["simulate", "-c", CONFIG, "--state", state("disabled.json", { ...running, disabled: ["web"] })]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual(["stop:httpd@alpha  (web is disabled)", "stop:vip@alpha  after stop:httpd@alpha  (web is disabled)", "note: web is stopped: web is disabled"]);
  });

  test("in maintenance (the node alpha) the same plan is noted and not done", async () => {
    const r = await tandem(["simulate", "-c", CONFIG, "--state", state("maintenance.json", { ...running, disabled: ["web"], maintenance: { cluster: false, nodes: ["alpha"], resources: [] } })]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "nothing to do",
      "note: web is stopped: web is disabled",
      "note: maintenance: stop httpd on alpha is not done (web is disabled)",
      "note: maintenance: stop vip on alpha is not done (web is disabled)",
    ]);
  });

  test("a hard error on alpha (as `tandem status --json` reports it) moves the group to bravo", async () => {
    const failures = [{ resource: "httpd", node: "alpha", count: 1, lastFailedAt: 0, startFailed: false, op: "monitor", error: "hard" }];
    const r = await tandem(["simulate", "-c", CONFIG, "--json", "--state", state("hard.json", { ...running, states: { ...running.states, httpd: { alpha: "failed-monitor" } }, failures, now: 1 })]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { actions: Array<{ id: string }> };
    expect(out.actions.map((a) => a.id)).toEqual(["stop:httpd@alpha", "stop:vip@alpha", "start:vip@bravo", "monitor:vip@bravo", "start:httpd@bravo", "monitor:httpd@bravo"]);
  });
});

describe("admin commands", () => {
  test("maintenance: on or off, then nothing, node NODE or resource NAME", async () => {
    for (const [args, said] of [
      [["sideways"], "expected on or off, found sideways"],
      [["on", "node"], "node needs a name"],
      [["on", "rack", "a"], "expected node NODE or resource NAME after on, found rack"],
      [["off", "resource", "web", "more"], "unexpected more"],
    ] as const) {
      const r = await tandem(["maintenance", "-c", CONFIG, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(said);
    }
    const enable = await tandem(["enable", "-c", CONFIG]);
    expect(enable.code).toBe(2);
    expect(enable.stderr).toContain("expected NAME, found nothing");
  });

  test("wrong arguments are usage errors before anything is sent", async () => {
    const missing = await tandem(["move", "-c", CONFIG, "web"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("expected GROUP NODE");
    const badFor = await tandem(["move", "-c", CONFIG, "web", "bravo", "--for", "soon"]);
    expect(badFor.code).toBe(2);
    expect(badFor.stderr).toContain('--for expects a duration like 30m or 2h, found "soon"');
    const forOnMove = await tandem(["standby", "-c", CONFIG, "alpha", "--for", "1h"]);
    expect(forOnMove.code).toBe(2);
    const forOnDirector = await tandem(["director", "-c", CONFIG, "drain", "web", "198.18.9.101:80", "--for", "1h"]);
    expect(forOnDirector.code).toBe(2);
    expect(forOnDirector.stderr).toContain("--for is for `tandem move`");
  });

  test("no node answering is a failure that names where it asked", async () => {
    const r = await tandem(["status", "-c", CONFIG, "--api", "http://127.0.0.1:9"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no node answered (http://127.0.0.1:9");
  });
});
