/** `tandem simulate` with the placement directives: node attributes and capacity from the config, colocation scores. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir } from "../helpers.ts";

const tmp = tempDir("simulate-placement");
const CONFIG = join(tmp.dir, "tandem.toml");
writeFileSync(
  CONFIG,
  `cluster = "sim"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.9.11"
attributes = { rack = "a" }

[[nodes]]
name = "bravo"
address = "198.18.9.12"
attributes = { rack = "b", ssd = true }
capacity = { cpu = 4 }

[resources]
placement = "utilization"

[[resources.group]]
name = "group1"
members = ["ip1", "app1"]

[[resources.resource]]
name = "ip1"
agent = "lsb:ip1"

[[resources.resource]]
name = "app1"
agent = "lsb:app1"

[[resources.resource]]
name = "app2"
agent = "lsb:app2"
migration_threshold = 2

[[resources.resource]]
name = "backup"
agent = "lsb:backup"
utilization = { cpu = 1 }

[[resources.colocation]]
group = "app2"
with = "group1"

[[resources.colocation]]
group = "backup"
with = "group1"
score = "-INFINITY"

[[resources.location]]
group = "backup"
rule = "ssd = true"
score = 100
`,
);

beforeAll(async () => {
  await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")]);
});
afterAll(() => tmp.cleanup());

describe("tandem simulate: placement", () => {
  test("group1 moves where app2, which must run with it, may run; backup keeps away from it; its ssd rule and cpu read the nodes' attributes and capacity", async () => {
    const file = join(tmp.dir, "state.json");
    writeFileSync(file, JSON.stringify({ now: 0, states: { ip1: { alpha: "started" }, app1: { alpha: "started" } }, failures: [{ resource: "app2", node: "alpha", count: 2, lastFailedAt: 0, startFailed: false }] }));
    const moved = await tandem(["simulate", "-c", CONFIG, "--state", file]);
    expect(moved.code).toBe(0);
    expect(moved.stdout.split("\n").filter(Boolean)).toEqual([
      "stop:app1@alpha  (group1 moves to bravo)",
      "stop:ip1@alpha  after stop:app1@alpha  (group1 moves to bravo)",
      "start:ip1@bravo  after stop:app1@alpha, stop:ip1@alpha  (group1 runs on bravo)",
      "monitor:ip1@bravo  after start:ip1@bravo  (ip1 runs on bravo)",
      "start:app1@bravo  after start:ip1@bravo  (group1 runs on bravo)",
      "monitor:app1@bravo  after start:app1@bravo  (app1 runs on bravo)",
      "start:app2@bravo  (app2 runs on bravo)",
      "monitor:app2@bravo  after start:app2@bravo  (app2 runs on bravo)",
      "note: backup cannot run anywhere (alpha: cpu: needs 1, 0 free; bravo: group1 runs there (colocation -INFINITY))",
      "group group1: on bravo",
      "group app2: on bravo",
      "group backup: stopped",
    ]);
    const fresh = await tandem(["simulate", "-c", CONFIG]);
    expect(fresh.stdout).toContain("start:backup@bravo  (backup runs on bravo)");
    expect(fresh.stdout).toContain("start:ip1@alpha  (group1 runs on alpha)");
  });
});
