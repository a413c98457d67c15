/**
 * A lab's replicated volumes on their first bring-up: a new volume has no
 * up-to-date data on either side, so nothing may promote it until one side
 * is made primary by force once (`drbdadm primary --force`, `tandem volume
 * promote --force`). `tandem lab up` does that for every volume of the
 * config that both of its nodes show new (no generation, neither primary)
 * once they are connected, on the node its group prefers; a volume that was
 * primary once (its metadata says so) is left to the resource manager.
 *
 * The other side is disconnected for the while: connected, it would be up to
 * date after its resync (a fraction of a second for a small volume) and offer
 * its promotion score before the forced side's monitor tells the manager it
 * is primary; the manager would then promote it too, and that promote would
 * wait for the peer and fail. So: disconnect the other side, force, wait
 * until the manager shows the forced side promoted (for each promotable
 * clone of the volume), connect the other side again (which resyncs from the
 * primary). The decisions here are pure; cmd/lab.ts asks the nodes and acts.
 */
import type { VolumeStatus } from "../modules/replication/volume.ts";
import { NO_GENERATION } from "../modules/replication/generations.ts";
import { POLL_MS } from "./system.ts";

/** Bound on each wait of a lab's new volume: for both sides to connect, then for the manager to show the forced side promoted. */
export const FIRST_PROMOTION_TIMEOUT_MS = 15_000;

export interface LabVolume {
  name: string;
  /** The two nodes holding a replica, in the order of its `on` list. */
  nodes: [string, string];
  /** Where the first promotion is forced: the preferred node of a group colocated with its promoted instance, else its first node. */
  first: string;
  /** The other node, disconnected while the first is forced. */
  other: string;
  /** The promotable clones of the volume (agent "volume"), which the manager must show promoted on `first` before `other` connects. */
  clones: string[];
}

/** What a lab config says of its volumes and the promotable clones and groups that use them. */
export interface LabVolumesConfig {
  volumes?: ReadonlyArray<{ name: string; on: ReadonlyArray<{ node: string }> }>;
  resources?: {
    resource: ReadonlyArray<{ name: string; agent: string; params?: Record<string, unknown>; promotable?: boolean }>;
    group: ReadonlyArray<{ name: string; preferred?: string }>;
    colocation: ReadonlyArray<{ group: string; with: string; with_role?: string }>;
  };
}

export function labVolumes(raw: LabVolumesConfig): LabVolume[] {
  const res = raw.resources;
  return (raw.volumes ?? []).map((v) => {
    const nodes = [v.on[0]!.node, v.on[1]!.node] as [string, string];
    const clones = new Set((res?.resource ?? []).filter((r) => r.agent === "volume" && r.promotable && r.params?.volume === v.name).map((r) => r.name));
    const groups = new Set((res?.colocation ?? []).filter((c) => c.with_role === "promoted" && clones.has(c.with)).map((c) => c.group));
    const preferred = (res?.group ?? []).find((g) => groups.has(g.name) && g.preferred !== undefined && nodes.includes(g.preferred))?.preferred;
    const first = preferred ?? nodes[0];
    return { name: v.name, nodes, first, other: nodes.find((n) => n !== first)!, clones: [...clones] };
  });
}

export type FirstPromotion =
  | { kind: "wait"; why: string }
  | { kind: "force"; node: string }
  /** Not for the lab to decide: a side was primary once, or is now. */
  | { kind: "leave"; why: string };

/** What to do with a volume, from its status on each of its nodes (undefined: that node did not answer yet). */
export function firstPromotion(v: LabVolume, seen: Record<string, VolumeStatus | undefined>): FirstPromotion {
  for (const node of v.nodes) {
    const s = seen[node];
    if (s?.role === "primary") return { kind: "leave", why: `primary on ${node} already` };
    if (s && s.generations.current !== NO_GENERATION) return { kind: "leave", why: `${node} holds its data (it was primary once): the resource manager promotes it` };
  }
  const apart = v.nodes.filter((n) => seen[n]?.connection !== "connected");
  if (apart.length) return { kind: "wait", why: `${apart.map((n) => `${n} ${seen[n]?.connection ?? "not answering"}`).join(", ")}` };
  return { kind: "force", node: v.first };
}

/** A node's API as the lab reaches it: the answer to METHOD /v1/PATH, or undefined when the node does not answer. */
export type Ask = (node: string, method: "GET" | "POST", path: string) => Promise<{ status: number; body: Record<string, unknown> } | undefined>;

/** A volume after `lab up`: what the lab did with it, and where its primary serves it. */
export interface UpVolume {
  name: string;
  did: string;
  primary?: { node: string; socket: string };
}

/** What each node says of its volumes: GET /v1/replication/volumes. */
interface VolumesAnswer {
  volumes: VolumeStatus[];
  sockets: Record<string, string>;
}

async function volumesOn(ask: Ask, node: string): Promise<VolumesAnswer | undefined> {
  const r = await ask(node, "GET", "replication/volumes");
  return r?.status === 200 ? (r.body as unknown as VolumesAnswer) : undefined;
}

/** Polls `check` every 2 POLL_MS until it answers, for FIRST_PROMOTION_TIMEOUT_MS at most. */
async function until<T>(check: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + FIRST_PROMOTION_TIMEOUT_MS;
  for (;;) {
    const got = await check();
    if (got !== undefined || Date.now() >= deadline) return got;
    await Bun.sleep(POLL_MS * 2);
  }
}

/** The forced first promotion of `v` on v.first, the other side disconnected meanwhile (see the file's comment); what was done. */
async function force(v: LabVolume, ask: Ask, hint: string): Promise<string> {
  const command = async (node: string, c: string): Promise<string | undefined> => {
    const r = await ask(node, "POST", `replication/volumes/${encodeURIComponent(v.name)}/${c}`);
    return r?.status === 200 ? undefined : `${c} on ${node}: ${r ? String(r.body.detail ?? r.status) : "no answer"}`;
  };
  const failed = await command(v.other, "disconnect");
  if (failed) return `not forced primary (${failed}); ${hint}`;
  const refused = await command(v.first, "promote-force");
  const promoted = refused
    ? undefined
    : await until(async () => {
        const r = await ask(v.first, "GET", "resources/");
        const states = (r?.body.resources ?? {}) as Record<string, { states?: Record<string, string> }>;
        return v.clones.every((c) => states[c]?.states?.[v.first] === "promoted") ? true : undefined;
      });
  const reconnect = await command(v.other, "connect");
  if (refused) return `the forced promotion was refused (${refused}); ${hint}`;
  const late = promoted ? "" : `; the manager did not show ${v.clones.join(", ")} promoted on ${v.first} within ${FIRST_PROMOTION_TIMEOUT_MS / 1000}s`;
  return `new on both nodes: made primary on ${v.first} by force (as \`tandem volume promote --force\`); ${v.other} ${reconnect ? `not connected again (${reconnect})` : "resyncs from it"}${late}`;
}

/**
 * Each volume of the lab that is new on both sides, made primary by force on its first node once both sides are
 * connected; one that was primary once is left alone. `hint(v)`: the command that forces it by hand.
 */
export async function promoteNewVolumes(volumes: LabVolume[], ask: Ask, hint: (v: LabVolume) => string): Promise<UpVolume[]> {
  const out: UpVolume[] = [];
  for (const v of volumes) {
    let last: FirstPromotion = { kind: "wait", why: "no answer yet" };
    await until(async () => {
      const seen = Object.fromEntries(await Promise.all(v.nodes.map(async (n) => [n, (await volumesOn(ask, n))?.volumes.find((x) => x.name === v.name)] as const)));
      last = firstPromotion(v, seen);
      return last.kind === "wait" ? undefined : last;
    });
    const d = last as FirstPromotion;
    const did =
      d.kind === "leave" ? d.why : d.kind === "force" ? await force(v, ask, `by hand: ${hint(v)}`) : `not connected within ${FIRST_PROMOTION_TIMEOUT_MS / 1000}s (${d.why}): nothing promoted; once connected: ${hint(v)}`;
    const primaryNow = async () => {
      for (const n of v.nodes) {
        const a = await volumesOn(ask, n);
        if (a?.volumes.find((x) => x.name === v.name)?.role === "primary" && a.sockets[v.name]) return { node: n, socket: a.sockets[v.name]! };
      }
      return undefined;
    };
    const primary = d.kind === "force" ? await until(primaryNow) : await primaryNow();
    out.push({ name: v.name, did, ...(primary ? { primary } : {}) });
  }
  return out;
}
