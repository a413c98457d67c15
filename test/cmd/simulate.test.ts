/** `tandem simulate` and the admin commands' argument handling, through the program itself. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir } from "../helpers.ts";
import { formatStatus } from "../../cmd/admin.ts";

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

[[resources.resource]]
name = "proxy"
agent = "lsb:haproxy"
clone = true
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
  test("without a state: everything up and stopped, the group starts on its preferred node, left to right, the clone on every node; where each runs is said last", async () => {
    const r = await tandem(["simulate", "-c", CONFIG]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "start:vip@alpha  (web runs on alpha)",
      "monitor:vip@alpha  after start:vip@alpha  (vip runs on alpha)",
      "start:httpd@alpha  after start:vip@alpha  (web runs on alpha)",
      "monitor:httpd@alpha  after start:httpd@alpha  (httpd runs on alpha)",
      "start:proxy@alpha  (proxy runs on alpha)",
      "monitor:proxy@alpha  after start:proxy@alpha  (proxy runs on alpha)",
      "start:proxy@bravo  (proxy runs on bravo)",
      "monitor:proxy@bravo  after start:proxy@bravo  (proxy runs on bravo)",
      "group web: on alpha",
      "clone proxy: on alpha, bravo",
    ]);
  });

  test("a clone's instances, one per node, and a group that runs in part, as the policy places them", async () => {
    const file = state("partial.json", {
      states: { httpd: { alpha: "failed-start" } },
      failures: [{ resource: "httpd", node: "alpha", count: 1, lastFailedAt: 0, startFailed: true }],
      nodes: { bravo: { standby: true } },
    });
    const r = await tandem(["simulate", "-c", CONFIG, "--state", file, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.placement).toEqual({ web: ["alpha"], proxy: ["alpha"] });
    expect(out.notes).toEqual(["web runs only vip on alpha: httpd failed to start there", "proxy runs 1 of 2 instances (bravo: standby)"]);
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
    expect(out.actions.filter((a: { kind: string }) => a.kind === "start").map((a: { id: string }) => a.id)).toEqual(["start:vip@bravo", "start:httpd@bravo", "start:proxy@bravo"]);
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
  // web on alpha, the clone proxy on both nodes.
  const running = { states: { vip: { alpha: "started" }, httpd: { alpha: "started" }, proxy: { alpha: "started", bravo: "started" } } };

  test("a disabled group stops where it runs, right to left, and the note says why", async () => {
    const r = await tandem(["simulate", "-c", CONFIG, "--state", state("disabled.json", { ...running, disabled: ["web"] })]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "stop:httpd@alpha  (web is disabled)",
      "stop:vip@alpha  after stop:httpd@alpha  (web is disabled)",
      "monitor:proxy@alpha  (proxy runs on alpha)",
      "monitor:proxy@bravo  (proxy runs on bravo)",
      "note: web is stopped: web is disabled",
      "group web: stopped",
      "clone proxy: on alpha, bravo",
    ]);
  });

  test("in maintenance (the node alpha) the same plan is noted and not done", async () => {
    const r = await tandem(["simulate", "-c", CONFIG, "--state", state("maintenance.json", { ...running, disabled: ["web"], maintenance: { cluster: false, nodes: ["alpha"], resources: [] } })]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "monitor:proxy@alpha  (proxy runs on alpha)",
      "monitor:proxy@bravo  (proxy runs on bravo)",
      "note: web is stopped: web is disabled",
      "note: maintenance: stop httpd on alpha is not done (web is disabled)",
      "note: maintenance: stop vip on alpha is not done (web is disabled)",
      "group web: stopped",
      "clone proxy: on alpha, bravo",
    ]);
  });

  test("a hard error on alpha (as `tandem status --json` reports it) moves the group to bravo", async () => {
    const failures = [{ resource: "httpd", node: "alpha", count: 1, lastFailedAt: 0, startFailed: false, op: "monitor", error: "hard" }];
    const r = await tandem(["simulate", "-c", CONFIG, "--json", "--state", state("hard.json", { ...running, states: { ...running.states, httpd: { alpha: "failed-monitor" } }, failures, now: 1 })]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { actions: Array<{ id: string }> };
    expect(out.actions.map((a) => a.id)).toEqual(["stop:httpd@alpha", "stop:vip@alpha", "start:vip@bravo", "monitor:vip@bravo", "start:httpd@bravo", "monitor:httpd@bravo", "monitor:proxy@alpha", "monitor:proxy@bravo"]);
  });
});

describe("admin commands", () => {
  test("tandem status shows a clone's instances per node, and a group running in part with the members it runs", () => {
    const text = formatStatus("alpha", {
      dc: "alpha",
      quorate: true,
      nodes: [],
      groups: [
        { name: "web", members: ["vip", "httpd"], runningOn: [], clone: null, instances: [{ node: "alpha", started: ["vip"] }] },
        { name: "proxy", members: ["proxy"], runningOn: ["alpha", "bravo"], clone: { max: null }, instances: [] },
        { name: "vips", members: ["vip2"], runningOn: ["bravo"], clone: { max: 1 }, instances: [] },
      ],
      resources: {},
      operations: [],
      failures: [],
      moves: [],
      notes: [],
      cluster: { self: "alpha" },
    });
    expect(text.split("\n").filter((l) => /^  \S/.test(l))).toEqual(["  web          on alpha (vip only)", "  proxy        clone on alpha, bravo", "  vips         clone (max 1) on bravo"]);
  });

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
