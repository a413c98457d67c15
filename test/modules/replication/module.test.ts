/**
 * The replication module as the runtime runs it: two nodes (alpha on
 * 127.0.0.1, bravo on 127.0.0.2) in this process, each with its replication
 * thread; nbdcopy writes a file through alpha's NBD socket once alpha is
 * primary, and bravo's backing file then holds the same bytes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../core/config/load.ts";
import { newKey } from "../../../core/crypto/keyfile.ts";
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

describe("the replication module", () => {
  test("a pair's threads connect; promoted with force, alpha serves NBD and bravo receives what nbdcopy wrote", async () => {
    if (!haveDebianPackage("libnbd-bin", "/usr/bin/nbdcopy", "nbdcopy")) return;
    const port = await freePort();
    for (const n of ["alpha", "bravo"]) writeFileSync(join(dir, `${n}.img`), new Uint8Array(SIZE + metadataBytes({ size: SIZE, regionBytes: 4096 })));
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
socket = "${dir}/data-SELF.nbd"
on = [{ node = "alpha", device = "${dir}/alpha.img" }, { node = "bravo", device = "${dir}/bravo.img" }]
`;
    const keys = { active: 1, keys: new Map([[1, await newKey()]]) };
    const modules: Record<string, ReplicationModule> = {};
    for (const n of ["alpha", "bravo"]) {
      const r = parseConfig(text.replace("SELF", n), "t.toml", MODULES);
      if (!r.ok) throw new Error(JSON.stringify(r.problems));
      r.config.keys = keys;
      const m = replicationModule.create(testContext(r.config, n)) as ReplicationModule;
      await m.start(r.config);
      running.push(m);
      modules[n] = m;
    }
    const volume = (n: string) => (modules[n]!.status().volumes as Array<Record<string, unknown>>)[0];
    await waitFor("the link", () => (volume("alpha")?.connection === "connected" && volume("bravo")?.connection === "connected") || undefined);
    expect(await modules.alpha!.command("data", "promote-force")).toEqual({});
    await waitFor("the initial resync", () => (volume("alpha")?.role === "primary" && volume("bravo")?.disk === "up-to-date" && volume("bravo")?.connection === "connected") || undefined, 20_000);
    expect(await modules.bravo!.command("data", "promote")).toEqual({ refused: "the peer is primary" });
    const source = join(dir, "source.bin");
    const bytes = randomBytes(SIZE);
    writeFileSync(source, bytes);
    const copy = Bun.spawnSync(["nbdcopy", source, `nbd+unix:///data?socket=${dir}/data-alpha.nbd`]);
    expect(copy.stderr.toString()).toBe("");
    expect(copy.exitCode).toBe(0);
    expect(Buffer.from(readFileSync(join(dir, "bravo.img")).subarray(0, SIZE)).equals(bytes)).toBe(true);
    const refused = Bun.spawnSync(["nbdcopy", source, `nbd+unix:///data?socket=${dir}/data-bravo.nbd`]);
    expect(refused.exitCode).not.toBe(0);
  }, 60_000);
});
