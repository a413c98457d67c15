/**
 * lab/volumes.ts without a lab: which node a lab's new volume is forced
 * primary on, when (both sides new and connected; never for a volume that
 * was primary once), and the order of the calls `tandem lab up` makes for
 * it (the other side disconnected, the force, the manager showing it
 * promoted, the other side connected again), against nodes played here.
 */
import { describe, expect, test } from "bun:test";
import { firstPromotion, labVolumes, promoteNewVolumes, type Ask, type LabVolume } from "../../lab/volumes.ts";
import type { VolumeStatus } from "../../modules/replication/volume.ts";

const DEMO = {
  volumes: [{ name: "data", on: [{ node: "bravo" }, { node: "alpha" }] }],
  resources: {
    resource: [
      { name: "vip", agent: "address" },
      { name: "vol", agent: "volume", params: { volume: "data" }, promotable: true },
    ],
    group: [{ name: "web", preferred: "alpha" }],
    colocation: [{ group: "web", with: "vol", with_role: "promoted" }],
  },
};

function status(o: Partial<VolumeStatus>): VolumeStatus {
  return {
    name: "data",
    role: "secondary",
    connection: "connected",
    disk: "inconsistent",
    peerPrimary: false,
    generations: { current: 0, bitmap: 0, history: [] },
    outOfSyncBytes: 0,
    writesInFlight: 0,
    linkErrors: 0,
    resyncedBytes: 0,
    ...o,
  } as VolumeStatus;
}

describe("a lab's new volumes", () => {
  test("forced on the preferred node of the group with its promoted clone, else on the first of its `on` list", () => {
    expect(labVolumes(DEMO)).toEqual([{ name: "data", nodes: ["bravo", "alpha"], first: "alpha", other: "bravo", clones: ["vol"] }]);
    expect(labVolumes({ volumes: DEMO.volumes })).toEqual([{ name: "data", nodes: ["bravo", "alpha"], first: "bravo", other: "alpha", clones: [] }]);
  });

  test("forced only when both sides are new and connected; a volume that was primary once is left to the manager", () => {
    const v = labVolumes(DEMO)[0]!;
    expect(firstPromotion(v, { alpha: status({}), bravo: undefined }).kind).toBe("wait");
    expect(firstPromotion(v, { alpha: status({}), bravo: status({ connection: "connecting" }) })).toEqual({ kind: "wait", why: "bravo connecting" });
    expect(firstPromotion(v, { alpha: status({}), bravo: status({}) })).toEqual({ kind: "force", node: "alpha" });
    const known = status({ disk: "up-to-date", generations: { current: 77, bitmap: 0, history: [] } as VolumeStatus["generations"] });
    expect(firstPromotion(v, { alpha: status({}), bravo: known }).kind).toBe("leave");
    expect(firstPromotion(v, { alpha: status({ connection: "connecting" }), bravo: known }).kind).toBe("leave");
    expect(firstPromotion(v, { alpha: status({ role: "primary" }), bravo: status({}) })).toEqual({ kind: "leave", why: "primary on alpha already" });
  });

  test("the calls: bravo disconnected, alpha forced, the manager shows vol promoted on alpha, bravo connected again; the primary's socket reported", async () => {
    const calls: string[] = [];
    let forced = false;
    let managerPolls = 0;
    const socket = (node: string) => `/run/tandem/lab/t/state/${node}/data.nbd`;
    const ask: Ask = async (node, method, path) => {
      if (method === "POST") {
        calls.push(`${node} ${path}`);
        if (path.endsWith("promote-force")) forced = true;
        return { status: 200, body: {} };
      }
      if (path === "resources/") {
        // The manager learns of the promotion at its next monitor: not at the first poll.
        const shown = forced && ++managerPolls > 1;
        return { status: 200, body: { resources: { vol: { states: { alpha: shown ? "promoted" : "started", bravo: "started" } } } } };
      }
      const primary = node === "alpha" && forced;
      return { status: 200, body: { volumes: [status({ role: primary ? "primary" : "secondary" })], sockets: { data: socket(node) } } };
    };
    const v: LabVolume = labVolumes(DEMO)[0]!;
    const [up] = await promoteNewVolumes([v], ask, () => "by hand");
    expect(calls).toEqual(["bravo replication/volumes/data/disconnect", "alpha replication/volumes/data/promote-force", "bravo replication/volumes/data/connect"]);
    expect(managerPolls).toBe(2);
    expect(up).toEqual({ name: "data", did: "new on both nodes: made primary on alpha by force (as `tandem volume promote --force`); bravo resyncs from it", primary: { node: "alpha", socket: socket("alpha") } });
  });

  test("a volume that was primary once: no call, only where it is primary now", async () => {
    const calls: string[] = [];
    const ask: Ask = async (node, method, path) => {
      if (method === "POST") calls.push(`${node} ${path}`);
      const v = node === "bravo" ? status({ role: "primary", disk: "up-to-date", generations: { current: 5, bitmap: 0, history: [] } as VolumeStatus["generations"] }) : status({ disk: "up-to-date" });
      return { status: 200, body: { volumes: [v], sockets: { data: `/s/${node}` } } };
    };
    const [up] = await promoteNewVolumes(labVolumes(DEMO), ask, () => "by hand");
    expect(calls).toEqual([]);
    expect(up).toEqual({ name: "data", did: "primary on bravo already", primary: { node: "bravo", socket: "/s/bravo" } });
  });
});
