/**
 * Heartbeat in the lab, as an operator would see it: two nodes on two links
 * (two bridges), the compiled binary, real kernel networking. Loss on one link
 * is no failover; both links down, or a frozen node, is detected within the
 * bound; the frozen node knows it was stalled; forged, stale and garbage frames
 * from the client namespace are dropped unread (source filter), and from the
 * peer's own addresses are counted by reason; neither changes anything. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { LAB_TIMERS, pairLabUp } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/heartbeat.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `hb${process.pid % 100000}`;
const [LAN, HB] = ROOT ? (freeSubnets(2, 128) as [string, string]) : ["", ""];
const TIMERS = LAB_TIMERS;
/** What the bound allows beyond deadtime + interval: the fault command's own time and the log write. */
const SLACK_MS = 250;
const TOKEN = "heartbeat-lab-token-0123456789";
const tmp = tempDir("hblab");
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");

interface Host {
  name: string;
  namespace: string;
  api: string | null;
  log: string | null;
}
let hosts: Record<string, Host> = {};

async function lab(...args: string[]) {
  const r = await tandem(["lab", ...args, "--name", LAB], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tandem lab ${args.join(" ")}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// The heartbeat module's status, as /v1/status shows it (its shape is the module's README).
async function status(node: string): Promise<any> {
  const body = (await (await fetch(`${hosts[node]!.api}v1/status`, { signal: AbortSignal.timeout(2000) })).json()) as { modules: { heartbeat: unknown } };
  return body.modules.heartbeat;
}

/** Heartbeat events of a node from its log, with their wall time. */
function events(node: string, type: string): Array<Record<string, any>> {
  return readFileSync(hosts[node]!.log!, "utf8")
    .split("\n")
    .filter((l) => l.includes(`"event":"${type}"`))
    .map((l) => JSON.parse(l));
}

async function bothUp(): Promise<void> {
  await waitFor(
    "both nodes to see each other on both links, with quorum",
    async () => {
      for (const [me, peer] of [["alpha", "bravo"], ["bravo", "alpha"]]) {
        const hb = await status(me!);
        const p = hb.peers[peer!];
        if (!hb.quorate || p?.status !== "up" || p.links.lan.status !== "up" || p.links.hb.status !== "up") return undefined;
      }
      return true;
    },
    15_000,
  );
}

const downOf = (observer: string, peer: string, since: number) =>
  events(observer, "heartbeat.peer").filter((e) => e.peer === peer && e.status === "down" && e.time >= since);

describe.skipIf(!ROOT)("heartbeat in the lab", () => {
  beforeAll(async () => {
    await pairLabUp(LAB, tmp.dir, TOKEN, {
      cluster: "hblab",
      lan: LAN,
      hb: HB,
      more: `
[heartbeat.ping]
targets = ["${LAN}1", "${HB}99"]
interval = "1s"
timeout = "1s"
`,
    });
    const st = JSON.parse(await lab("status", "--json")).labs[0];
    hosts = Object.fromEntries(st.hosts.map((h: Host) => [h.name, h]));
    await bothUp();
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("both nodes are up on both links, with quorum, RTT and the metrics", async () => {
    const a = await status("alpha");
    expect(a.quorate).toBe(true);
    expect(a.peers.bravo.links.lan.rttMs).toBeGreaterThanOrEqual(0);
    const metrics = await (await fetch(`${hosts.alpha!.api}metrics`)).text();
    expect(metrics).toContain('tandem_heartbeat_peer_up{peer="bravo"} 1');
    expect(metrics).toContain('tandem_heartbeat_link_up{peer="bravo",link="hb"} 1');
    expect(metrics).toMatch(/^tandem_heartbeat_frames_received_total\{link="hb"\} [1-9]\d*$/m);
  });

  test("ping targets: the lab host answers, an address nobody holds does not; each node reports it and sees its peer's", async () => {
    const a = await waitFor("alpha's first ping round", async () => ((await status("alpha")).upstream ? await status("alpha") : undefined), 5000);
    expect(a.upstream).toEqual({ reachable: 1, total: 2 });
    await waitFor("bravo's reachability in alpha's view", async () => ((await status("alpha")).peers.bravo.upstream?.total === 2 ? true : undefined), 5000);
    expect(a.yieldToPeer).toBe(false);
  }, 15_000);

  test("30% loss on one link: loss is measured and nobody is declared dead", async () => {
    const since = Date.now();
    await lab("netem", "bravo", "hb", "--loss", "30");
    await Bun.sleep(6000);
    const a = await status("alpha");
    await lab("netem", "bravo", "hb", "--clear");
    expect(a.peers.bravo.status).toBe("up");
    expect(a.peers.bravo.links.hb.lossPct).toBeGreaterThan(10);
    expect(a.peers.bravo.links.hb.lossPct).toBeLessThan(50);
    expect(downOf("alpha", "bravo", since)).toEqual([]);
    expect(downOf("bravo", "alpha", since)).toEqual([]);
  }, 30_000);

  test("one link down: that link is down, the peer stays up", async () => {
    const since = Date.now();
    await lab("fault", "bravo", "link", "hb");
    await Bun.sleep(TIMERS.deadtime * 3);
    const a = await status("alpha");
    await lab("heal", "bravo", "link", "hb");
    expect(a.peers.bravo.status).toBe("up");
    expect(a.peers.bravo.links.hb.status).toBe("down");
    expect(a.peers.bravo.links.lan.status).toBe("up");
    expect(downOf("alpha", "bravo", since)).toEqual([]);
    await bothUp();
  }, 30_000);

  test("both links down: the survivor declares the peer dead within deadtime + interval", async () => {
    const at = Date.now();
    await lab("fault", "bravo", "isolate");
    const down = await waitFor("alpha to declare bravo dead", () => downOf("alpha", "bravo", at)[0], 5000);
    expect(down.time - at).toBeLessThanOrEqual(TIMERS.deadtime + TIMERS.interval + SLACK_MS);
    expect(down.reason).toBe("silent");
    await lab("heal", "bravo");
    await bothUp();
  }, 30_000);

  test("SIGSTOP past deadtime: detected; once resumed the node knows it was stalled and declared dead, and regains quorum", async () => {
    const at = Date.now();
    await lab("fault", "bravo", "freeze");
    const down = await waitFor("alpha to declare bravo dead", () => downOf("alpha", "bravo", at)[0], 5000);
    expect(down.time - at).toBeLessThanOrEqual(TIMERS.deadtime + TIMERS.interval + SLACK_MS);
    await Bun.sleep(500);
    await lab("heal", "bravo");
    const stall = await waitFor("bravo's stall report", () => events("bravo", "heartbeat.stall").find((e) => e.time >= at), 5000);
    expect(stall.maybeDeclaredDead).toBe(true);
    expect(stall.gapMs).toBeGreaterThan(TIMERS.deadtime);
    const told = await waitFor("bravo to learn it was declared dead", () => events("bravo", "heartbeat.declared-dead").find((e) => e.time >= at), 5000);
    expect(told.by).toBe("alpha");
    await bothUp();
    expect(events("bravo", "heartbeat.quorum").filter((e) => e.time >= at).map((e) => e.quorate)).toEqual([false, true]);
  }, 30_000);

  /** Alpha's counters of one series by one label. */
  async function counters(series: string, label: string): Promise<Record<string, number>> {
    const text = await (await fetch(`${hosts.alpha!.api}metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(new RegExp(`^${series}\\{${label}="([^"]+)"\\} (\\d+)$`, "gm"))) out[m[1]!] = Number(m[2]);
    return out;
  }
  const dropped = () => counters("tandem_heartbeat_frames_dropped_total", "reason");

  /** Run the attacker in `host`'s namespace against alpha's LAN address: what it sent, by kind. */
  function attack(host: string, incarnation: number): Record<string, number> {
    const run = Bun.spawnSync(
      ["ip", "netns", "exec", hosts[host]!.namespace, BUN, resolve(import.meta.dir, "heartbeat-attacker.ts"), `${LAN}11`, "694", join(tmp.dir, "cluster.key"), "hblab", "bravo", String(incarnation)],
      { stdout: "pipe", stderr: "pipe", timeout: 20_000 },
    );
    expect(run.stderr.toString()).toBe("");
    return JSON.parse(run.stdout.toString()) as Record<string, number>;
  }

  test("forged, replayed, stale and garbage frames from the client's address: dropped before any cryptography, counted as from an unknown source", async () => {
    const before = { dropped: await dropped(), sources: await counters("tandem_heartbeat_datagrams_by_source_total", "source") };
    const incarnation = (await status("alpha")).peers.bravo.incarnation;
    const since = Date.now();
    const sent = attack("client", incarnation);
    const total = Object.values(sent).reduce((t, n) => t + n, 0);
    await Bun.sleep(300);
    const after = { dropped: await dropped(), sources: await counters("tandem_heartbeat_datagrams_by_source_total", "source") };
    // The oversized datagram is dropped by the socket's size check, before the source is looked at.
    const delta = (reason: string) => (after.dropped[reason] ?? 0) - (before.dropped[reason] ?? 0);
    expect((after.sources.unknown ?? 0) - (before.sources.unknown ?? 0)).toBe(total - sent.oversized!);
    expect(Object.keys(after.dropped).filter((r) => delta(r) !== 0).sort()).toEqual(["oversized", "unknown-source"]);
    expect(delta("unknown-source")).toBe(total - sent.oversized!);
    expect(delta("oversized")).toBe(sent.oversized!);
    const a = await status("alpha");
    expect(a.peers.bravo.status).toBe("up");
    expect(a.peers.bravo.incarnation).toBe(incarnation);
    expect(events("alpha", "heartbeat.peer").filter((e) => e.time >= since)).toEqual([]);
  }, 30_000);

  test("forged, replayed, stale and garbage frames from bravo's own address are counted by reason and change nothing", async () => {
    const before = await dropped();
    const incarnation = (await status("alpha")).peers.bravo.incarnation;
    const since = Date.now();
    const sent = attack("bravo", incarnation);
    await Bun.sleep(300);
    const after = await dropped();
    const delta = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
    for (const reason of ["auth", "cluster", "wrong-source", "stale-incarnation", "too-old"]) expect([reason, delta(reason)]).toEqual([reason, sent[reason]!]);
    const garbage = ["short", "oversized", "magic", "version", "malformed", "unknown-key"].reduce((t, r) => t + delta(r), 0);
    expect(garbage).toBe(sent.garbage! + sent.oversized!);
    const a = await status("alpha");
    expect(a.peers.bravo.status).toBe("up");
    expect(a.peers.bravo.incarnation).toBe(incarnation);
    expect(a.peers.bravo.holdsResources).toBe(false);
    expect(events("alpha", "heartbeat.peer").filter((e) => e.time >= since)).toEqual([]);
  }, 30_000);

  test("a clean stop is taken at once: the peer is leaving, not waited for", async () => {
    const at = Date.now();
    const pid = JSON.parse(await lab("status", "--json")).labs[0].hosts.find((h: { name: string }) => h.name === "bravo").process.pid;
    process.kill(pid, "SIGTERM");
    const leaving = await waitFor("alpha to see bravo leave", () => events("alpha", "heartbeat.peer").find((e) => e.peer === "bravo" && e.status === "leaving" && e.time >= at), 5000);
    expect(leaving.time - at).toBeLessThan(TIMERS.interval + SLACK_MS);
    await waitFor("bravo's process to exit", () => (existsSync(`/proc/${pid}`) ? undefined : true), 15_000);
    await lab("heal", "bravo");
    await bothUp();
  }, 30_000);
});
