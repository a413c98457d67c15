/**
 * The replication module as the runtime runs it: two nodes (alpha on
 * 127.0.0.1, bravo on 127.0.0.2) in this process, each with its replication
 * thread; nbdcopy writes a file through alpha's NBD socket once alpha is
 * primary, and bravo's backing file then holds the same bytes; the
 * metrics of a resync and of a split brain.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../core/config/load.ts";
import { newKey } from "../../../core/crypto/keyfile.ts";
import type { Metrics } from "../../../core/metrics.ts";
import { MODULES } from "../../../modules/index.ts";
import { replicationModule } from "../../../modules/replication/index.ts";
import { metadataBytes } from "../../../modules/replication/metadata.ts";
import type { ReplicationModule } from "../../../modules/replication/service.ts";
import { freePort, haveDebianPackage, tempDir, waitFor } from "../../helpers.ts";
import { testContext } from "../context.ts";

const SIZE = 4 << 20;
const { dir, cleanup } = tempDir("tandem-repl-module-");
const running: ReplicationModule[] = [];
afterAll(async () => {
  for (const m of running) await m.stop();
  cleanup();
});

/** Alpha and bravo's replication modules over one config (volume "data" of SIZE, on files in `sub`), started; their metrics, and a volume's status. */
async function pair(sub: string, extra = "") {
  const base = join(dir, sub);
  mkdirSync(base);
  const port = await freePort();
  for (const n of ["alpha", "bravo"]) writeFileSync(join(base, `${n}.img`), new Uint8Array(SIZE + metadataBytes({ size: SIZE, regionBytes: 4096 })));
  const text = `cluster = "lab"
key_file = "cluster.key"
[[nodes]]
name = "alpha"
address = "127.0.0.1"
[[nodes]]
name = "bravo"
address = "127.0.0.2"
[[volumes]]
name = "data"
size = "4M"
port = ${port}
socket = "${base}/data-SELF.nbd"
on = [{ node = "alpha", device = "${base}/alpha.img" }, { node = "bravo", device = "${base}/bravo.img" }]
${extra}`;
  const keys = { active: 1, keys: new Map([[1, await newKey()]]) };
  const modules: Record<string, ReplicationModule> = {};
  const metrics: Record<string, Metrics> = {};
  const events: Array<{ type: string; data: Record<string, unknown> }> = [];
  for (const n of ["alpha", "bravo"]) {
    const r = parseConfig(text.replace("SELF", n), "t.toml", MODULES);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    r.config.keys = keys;
    const ctx = testContext(r.config, n);
    ctx.events.subscribe((e) => events.push({ type: e.type, data: e.data as Record<string, unknown> }));
    const m = replicationModule.create(ctx) as ReplicationModule;
    await m.start(r.config);
    running.push(m);
    modules[n] = m;
    metrics[n] = ctx.metrics;
  }
  const volume = (n: string) => (modules[n]!.status().volumes as Array<Record<string, unknown>>)[0];
  /** A sample of node n's /metrics for volume "data". */
  const metric = (n: string, name: string) => {
    const line = metrics[n]!.render().split("\n").find((l) => l.startsWith(`${name}{volume="data"} `));
    return line === undefined ? undefined : Number(line.split(" ")[1]);
  };
  await waitFor("the link", () => (volume("alpha")?.connection === "connected" && volume("bravo")?.connection === "connected") || undefined);
  const promoted = await modules.alpha!.command("data", "promote-force");
  await waitFor("the initial resync", () => (volume("alpha")?.role === "primary" && volume("bravo")?.disk === "up-to-date" && volume("bravo")?.connection === "connected") || undefined, 20_000);
  return { base, modules, volume, metric, events, promoted };
}

describe("the replication module", () => {
  test("a pair's threads connect; promoted with force, alpha serves NBD and bravo receives what nbdcopy wrote", async () => {
    if (!haveDebianPackage("libnbd-bin", "/usr/bin/nbdcopy", "nbdcopy")) return;
    const { base, modules, promoted } = await pair("nbd");
    expect(promoted).toEqual({});
    expect(await modules.bravo!.command("data", "promote")).toEqual({ refused: "the peer is primary" });
    const source = join(base, "source.bin");
    const bytes = randomBytes(SIZE);
    writeFileSync(source, bytes);
    const copy = Bun.spawnSync(["nbdcopy", source, `nbd+unix:///data?socket=${base}/data-alpha.nbd`]);
    expect(copy.stderr.toString()).toBe("");
    expect(copy.exitCode).toBe(0);
    expect(Buffer.from(readFileSync(join(base, "bravo.img")).subarray(0, SIZE)).equals(bytes)).toBe(true);
    const refused = Bun.spawnSync(["nbdcopy", source, `nbd+unix:///data?socket=${base}/data-bravo.nbd`]);
    expect(refused.exitCode).not.toBe(0);
  }, 60_000);

  test("metrics: the bytes a resync moved on each side; a split brain left to the operator is counted and stands at 1 until resolved", async () => {
    const { modules, volume, metric, promoted } = await pair("metrics");
    expect(promoted).toEqual({});
    // The initial full resync: bravo wrote the whole volume, alpha read and sent it.
    await waitFor("the resync counted", () => (metric("alpha", "tandem_volume_resync_bytes_total") === SIZE && metric("bravo", "tandem_volume_resync_bytes_total") === SIZE) || undefined, 5_000);
    expect([metric("alpha", "tandem_volume_split_brain"), metric("alpha", "tandem_volume_split_brains_total"), metric("alpha", "tandem_volume_resync_bytes_left")]).toEqual([0, 0, 0]);
    // Apart, both become primary; at the reconnect both went on: split brain, and the default policy (disconnect) leaves it standing.
    expect(await modules.alpha!.command("data", "disconnect")).toEqual({});
    await waitFor("bravo cut off", () => (volume("bravo")?.connection === "connecting" || undefined));
    expect(await modules.bravo!.command("data", "promote")).toEqual({});
    expect(await modules.alpha!.command("data", "connect")).toEqual({});
    await waitFor("the split brain", () => (volume("alpha")?.reason === "split-brain" && volume("bravo")?.reason === "split-brain") || undefined);
    for (const n of ["alpha", "bravo"]) {
      await waitFor(`${n}'s split brain in its metrics`, () => metric(n, "tandem_volume_split_brain") === 1 || undefined, 5_000);
      expect(metric(n, "tandem_volume_split_brains_total")).toBe(1);
    }
    // Resolved as the operator does: bravo gives way, and alpha's data resyncs to it.
    expect(await modules.bravo!.command("data", "demote")).toEqual({});
    expect(await modules.bravo!.command("data", "discard-my-data")).toEqual({});
    expect(await modules.alpha!.command("data", "connect")).toEqual({});
    await waitFor("the pair connected again", () => (volume("alpha")?.connection === "connected" && volume("bravo")?.disk === "up-to-date" && volume("bravo")?.connection === "connected") || undefined, 20_000);
    for (const n of ["alpha", "bravo"]) {
      await waitFor(`${n}'s split brain gone from its metrics`, () => metric(n, "tandem_volume_split_brain") === 0 || undefined, 5_000);
      // The reconnect found the data split again, and this time discard-my-data resolved it.
      expect(metric(n, "tandem_volume_split_brains_total")).toBe(2);
    }
  }, 60_000);

  test.skipIf(existsSync("/sys/module/nbd"))("a kernel device on a kernel without nbd: the promotion is answered refused with why, the volume.device event says it, and the demotion goes through", async () => {
    const { modules, volume, events, promoted } = await pair("device", 'device = "/dev/nbd0"\n');
    expect(promoted.refused).toStartWith("promoted, but /dev/nbd0 is not attached: ");
    expect(promoted.refused).toContain("modprobe nbd");
    expect(volume("alpha")?.role).toBe("primary");
    const device = events.find((e) => e.type === "volume.device");
    expect(device?.data).toMatchObject({ volume: "data", device: "/dev/nbd0", attached: false });
    expect(await modules.alpha!.command("data", "demote")).toEqual({});
  }, 60_000);
});
