/**
 * The `volume` agent kind (modules/replication/agent.ts) against a stand-in
 * `replication` service whose volume the test sets: roles, refusals, the
 * promotion score, and the config check of its params.
 */
import { describe, expect, test } from "bun:test";
import { Services } from "../../../core/cluster.ts";
import type { VolumeStatus } from "../../../modules/replication/volume.ts";
import { NEVER, THREAD_SILENT_MS, UP_TO_DATE_ALONE, UP_TO_DATE_CONNECTED, volumeAgentHost } from "../../../modules/replication/agent.ts";
import { parseConfig } from "../../../core/config/load.ts";
import { MODULES } from "../../../modules/index.ts";

function volume(over: Partial<VolumeStatus> = {}): VolumeStatus {
  return {
    name: "data",
    role: "secondary",
    connection: "connected",
    disk: "up-to-date",
    peerPrimary: false,
    generations: { current: "0", bitmap: "0", history: [] } as unknown as VolumeStatus["generations"],
    outOfSyncBytes: 0,
    resyncedBytes: 0,
    writesInFlight: 0,
    linkErrors: 0,
    ...over,
  };
}

/** A replication service holding one volume; commands change its role unless `refuse` says why not. */
function world(v: VolumeStatus) {
  const commands: string[] = [];
  const w = { v, refuse: undefined as string | undefined, commands, silentMs: 0 };
  const services = new Services();
  services.provide("replication", {
    volumes: () => [w.v],
    silentMs: () => w.silentMs,
    command: async (name, c) => {
      commands.push(`${c} ${name}`);
      if (w.refuse) return { refused: w.refuse };
      if (c === "promote") w.v = { ...w.v, role: "primary" };
      if (c === "demote") w.v = { ...w.v, role: "secondary" };
      return {};
    },
  });
  const host = volumeAgentHost(services);
  const run = (action: Parameters<typeof host.run>[0], params: Record<string, string> = { volume: "data" }) => host.run(action, { timeoutMs: 2_000 }, { name: "vol", params });
  return { w, run };
}

describe("volume agent", () => {
  test("monitor and probe: ok when secondary, promoted (OCF 8) when primary, each with the promotion score", async () => {
    const { w, run } = world(volume());
    expect(await run("probe")).toMatchObject({ status: "ok", promotionScore: UP_TO_DATE_CONNECTED });
    w.v = volume({ role: "primary", connection: "standalone" });
    expect(await run("monitor")).toMatchObject({ status: "promoted", promotionScore: UP_TO_DATE_ALONE });
    w.v = volume({ disk: "inconsistent", connection: "sync-target" });
    expect(await run("monitor")).toMatchObject({ status: "ok", promotionScore: NEVER });
    // A secondary whose peer is primary (made so by an operator, unknown to the manager) is not promotable; once the peer is lost it is again.
    w.v = volume({ peerPrimary: true });
    expect(await run("monitor")).toMatchObject({ status: "ok", promotionScore: NEVER });
    w.v = volume({ peerPrimary: false, connection: "connecting" });
    expect(await run("monitor")).toMatchObject({ status: "ok", promotionScore: UP_TO_DATE_ALONE });
  });

  test("monitor and probe fail, saying how long, once the replication thread has not answered for THREAD_SILENT_MS; within it the last status answers", async () => {
    const { w, run } = world(volume({ role: "primary" }));
    w.silentMs = THREAD_SILENT_MS;
    expect(await run("monitor")).toMatchObject({ status: "promoted" });
    w.silentMs = THREAD_SILENT_MS + 1;
    for (const action of ["monitor", "probe"] as const)
      expect(await run(action)).toMatchObject({ status: "failed", message: `the replication thread has not answered for ${THREAD_SILENT_MS + 1} ms (bound ${THREAD_SILENT_MS} ms): data's last status is stale` });
    w.silentMs = 0;
    expect(await run("monitor")).toMatchObject({ status: "promoted" });
  });

  test("promote: refused without a command when not up to date; refused by the volume (the peer is primary) as failed with the reason; else primary", async () => {
    const { w, run } = world(volume({ disk: "inconsistent" }));
    expect(await run("promote")).toMatchObject({ status: "failed", message: expect.stringContaining("not up to date") });
    expect(w.commands).toEqual([]);
    w.v = volume();
    w.refuse = "the peer is primary";
    expect(await run("promote")).toMatchObject({ status: "failed", message: "promote refused: the peer is primary" });
    w.refuse = undefined;
    expect(await run("promote")).toMatchObject({ status: "ok" });
    expect(w.v.role).toBe("primary");
    expect(await run("promote")).toMatchObject({ status: "ok", message: "data is primary already" });
    expect(w.commands).toEqual(["promote data", "promote data"]);
  });

  test("promote while the volume shows its peer primary waits for the volume to lose it (a fenced peer's link noticing), then promotes; a peer that stays primary keeps it refused", async () => {
    const { w, run } = world(volume({ peerPrimary: true }));
    setTimeout(() => (w.v = { ...w.v, peerPrimary: false, connection: "connecting" }), 300);
    expect(await run("promote")).toMatchObject({ status: "ok", message: "data is primary" });
    expect(w.commands).toEqual(["promote data"]);
    const live = world(volume({ peerPrimary: true }));
    live.w.refuse = "the peer is primary";
    expect(await live.run("promote")).toMatchObject({ status: "failed", message: "promote refused: the peer is primary" });
  });

  test("start, stop and demote leave the volume secondary; a demote refused (writes under way) fails", async () => {
    const { w, run } = world(volume({ role: "primary" }));
    w.refuse = "writes are under way";
    expect(await run("demote")).toMatchObject({ status: "failed", message: "demote refused: writes are under way" });
    w.refuse = undefined;
    expect(await run("stop")).toMatchObject({ status: "ok" });
    expect(w.v.role).toBe("secondary");
    expect(await run("start")).toMatchObject({ status: "ok" });
    expect(await run("demote")).toMatchObject({ status: "ok" });
    expect(w.commands).toEqual(["demote data", "demote data"]);
  });

  test("a volume this node does not hold, or no replication module here: not-installed; no params.volume: not-configured", async () => {
    const { run } = world(volume({ name: "other" }));
    expect((await run("probe")).status).toBe("not-installed");
    expect((await run("probe", {})).status).toBe("not-configured");
    const bare = volumeAgentHost(new Services());
    expect((await bare.run("probe", { timeoutMs: 1000 }, { name: "vol", params: { volume: "data" } })).status).toBe("not-installed");
  });

  test("config: a volume resource needs params.volume naming a volume, and takes nothing else; promotable clones and their constraints are checked", () => {
    const base = (resource: string, more = "") =>
      [
        `cluster = "t"`,
        `key_file = "cluster.key"`,
        `[[nodes]]`,
        `name = "alpha"`,
        `address = "198.18.0.1"`,
        `[[nodes]]`,
        `name = "bravo"`,
        `address = "198.18.0.2"`,
        `[[nodes]]`,
        `name = "witness"`,
        `address = "198.18.0.3"`,
        `roles = ["arbiter"]`,
        `[[volumes]]`,
        `name = "data"`,
        `size = "1M"`,
        `port = 7789`,
        `on = [{ node = "alpha", device = "/tmp/a.img" }, { node = "bravo", device = "/tmp/b.img" }]`,
        `[resources]`,
        `[[resources.resource]]`,
        `name = "vol"`,
        resource,
        `[[resources.resource]]`,
        `name = "fs"`,
        `agent = "ocf:heartbeat:Dummy"`,
        more,
      ].join("\n");
    const problems = (text: string) => {
      const r = parseConfig(text, "/tmp/t.toml", MODULES);
      return r.ok ? [] : r.problems.map((p) => `${p.path.join(".")}: ${p.message}`);
    };
    expect(problems(base(`agent = "volume"\nparams = { volume = "data" }\nclone = true\npromotable = true`, `[[resources.colocation]]\ngroup = "fs"\nwith = "vol"\nwith_role = "promoted"\n[[resources.order]]\nfirst = "vol"\nthen = "fs"\nfirst_action = "promote"`))).toEqual([]);
    expect(problems(base(`agent = "volume"\nclone = true\npromotable = true`))).toEqual([expect.stringContaining("the volume resource needs params volume")]);
    expect(problems(base(`agent = "volume"\nparams = { volume = "dta" }\nclone = true\npromotable = true`))).toEqual(['resources.resource.0.params.volume: no volume named "dta"']);
    expect(problems(base(`agent = "volume"\nparams = { volume = "data", device = "x" }\nclone = true`))).toEqual([expect.stringContaining("takes only volume, not device")]);
    expect(problems(base(`agent = "volume"\nparams = { volume = "data" }\npromoted_max = 1\nclone = true`))).toEqual([expect.stringContaining("promoted_max applies to promotable clones only")]);
    expect(problems(base(`agent = "volume"\nparams = { volume = "data" }\nclone = true`, `[[resources.colocation]]\ngroup = "fs"\nwith = "vol"\nwith_role = "promoted"`))).toEqual([
      expect.stringContaining(`"vol" is not a promotable clone`),
    ]);
  });
});
