/**
 * The heartbeat shell as the runtime runs it: two nodes in this process on
 * loopback, on the real clock but for the wall clock each is given, bravo's
 * state kept in a dir of this test's. Bravo stops and starts again as a new
 * process (a new state store over the same dir) with its wall clock an hour
 * back, as after NTP stepped back or a VM restored from a snapshot.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Services } from "../../../core/cluster.ts";
import { parseConfig, type Config } from "../../../core/config/load.ts";
import { newKey } from "../../../core/crypto/keyfile.ts";
import { EventBus } from "../../../core/events.ts";
import { createLogger } from "../../../core/log.ts";
import { Metrics } from "../../../core/metrics.ts";
import type { ModuleContext, ModuleInstance } from "../../../core/module.ts";
import { cryptoRandom } from "../../../core/random.ts";
import { StateStore } from "../../../core/state.ts";
import { realClock } from "../../../core/time.ts";
import { heartbeatModule } from "../../../modules/heartbeat/index.ts";
import { freeUdpPort, tempDir, waitFor } from "../../helpers.ts";
import { MODULES } from "../../../modules/index.ts";
import { udpTransport, type DatagramTransport } from "../../../core/adapters.ts";
import { encodeFrame } from "../../../modules/heartbeat/envelope.ts";
import { encodeMessage } from "../../../modules/heartbeat/messages.ts";

const HOUR_MS = 3_600_000;
const WAIT_MS = 5_000;

const tmp = tempDir("hb-service");
afterAll(() => tmp.cleanup());

async function pairConfig(deadtime = "300ms"): Promise<Config> {
  const text = `cluster = "inc"
key_file = "cluster.key"
[[nodes]]
name = "alpha"
address = "127.0.0.31"
roles = ["member"]
[[nodes]]
name = "bravo"
address = "127.0.0.32"
roles = ["member"]
[heartbeat]
interval = "50ms"
warntime = "150ms"
deadtime = "${deadtime}"
initdead = "600ms"
port = ${await freeUdpPort()}
[[heartbeat.links]]
name = "lo"
kind = "ucast"
`;
  const r = parseConfig(text, join(tmp.dir, "tandem.toml"), MODULES);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return { ...r.config, keys: { active: 1, keys: new Map([[1, await newKey()]]) } };
}

interface Node {
  hb: ModuleInstance;
  metrics: Metrics;
  logged: Array<Record<string, unknown>>;
  /** The types of the events it emitted, in order. */
  events: string[];
}

/** UDP on loopback that also keeps every datagram received from `from`: what an attacker on the wire captures. */
function capturing(from: string, captured: Uint8Array[]): DatagramTransport {
  return {
    interfaces: udpTransport.interfaces,
    bind: (b) => udpTransport.bind({ ...b, onData: (bytes, source) => (source === from && captured.push(bytes.slice()), b.onData(bytes, source)) }),
  };
}

/** Send `datagrams` to `to`:`port` from `from` (an address of this machine), in order. */
async function replay(datagrams: Uint8Array[], from: string, to: string, port: number): Promise<void> {
  const socket = await Bun.udpSocket({ hostname: from });
  try {
    for (const d of datagrams) socket.send(d, port, to);
  } finally {
    socket.close();
  }
}

/** One process of `name`: its heartbeat module started, its wall clock `wallOffsetMs` off, its state kept in `stateDir` (none when undefined). */
async function start(config: Config, name: string, opts: { wallOffsetMs?: number; stateDir?: string; datagrams?: DatagramTransport } = {}): Promise<Node> {
  const logged: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: "info", human: false, write: (l) => void logged.push(JSON.parse(l) as Record<string, unknown>) });
  const clock = { ...realClock, wall: () => Date.now() + (opts.wallOffsetMs ?? 0) };
  const events = new EventBus(name, clock.wall);
  const metrics = new Metrics();
  const ctx: ModuleContext = {
    node: config.nodes.find((n) => n.name === name)!,
    clock,
    random: cryptoRandom(),
    log,
    events,
    metrics,
    runtime: { status: () => ({}), reload: () => Promise.resolve({ result: "unchanged", config: config.hash }), routes: () => [] },
    services: new Services(),
    state: new StateStore({ dir: opts.stateDir, cluster: config.cluster, node: name, log, clock, events, metrics }),
    ...(opts.datagrams ? { adapters: { datagrams: opts.datagrams } } : {}),
  };
  const hb = heartbeatModule.create(ctx);
  const seen: string[] = [];
  events.subscribe((e) => void seen.push(e.type));
  await hb.start(config);
  return { hb, metrics, logged, events: seen };
}

interface PeerStatus {
  status: string;
  hearsMe: boolean;
  incarnation: number | null;
}

const incarnationOf = (n: Node) => n.hb.status().incarnation as number;
const peerOf = (n: Node, peer: string) => (n.hb.status().peers as Record<string, PeerStatus>)[peer]!;

/** A counter's value in the node's metrics, 0 when the series is not there. */
function counter(n: Node, series: string): number {
  const line = n.metrics.render().split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

const dropped = (n: Node, reason: string) => counter(n, `tandem_heartbeat_frames_dropped_total{reason="${reason}"}`);
const bySource = (n: Node, source: string) => counter(n, `tandem_heartbeat_datagrams_by_source_total{source="${source}"}`);

/** Alpha and bravo up, each seeing the other; then bravo stops (goodbye) and alpha sees it leave. Returns alpha and bravo's incarnation. */
async function pairThenBravoStops(config: Config, stateDir: string | undefined): Promise<{ alpha: Node; first: number }> {
  const alpha = await start(config, "alpha");
  const bravo = await start(config, "bravo", { stateDir });
  try {
    // Bravo's goodbye counts once bravo has named alpha's process in a heartbeat (a goodbye of a process that never did is ignored).
    await waitFor("alpha sees bravo up, hearing alpha", () => (peerOf(alpha, "bravo").status === "up" && peerOf(alpha, "bravo").hearsMe ? true : undefined), WAIT_MS, 10);
    const first = incarnationOf(bravo);
    expect(peerOf(alpha, "bravo").incarnation).toBe(first);
    await bravo.hb.stop();
    await waitFor("alpha sees bravo leave", () => (peerOf(alpha, "bravo").status === "leaving" ? true : undefined), WAIT_MS, 10);
    return { alpha, first };
  } catch (e) {
    await Promise.all([alpha.hb.stop(), bravo.hb.stop()]);
    throw e;
  }
}

describe("a restart with the wall clock an hour back", () => {
  test("with a state dir: the kept incarnation + 1, which alpha admits as a restart; nothing refused as stale", async () => {
    const config = await pairConfig();
    const dir = join(tmp.dir, "bravo-state");
    const { alpha, first } = await pairThenBravoStops(config, dir);
    const file = join(dir, "bravo.state.json");
    // Kept: bravo's incarnation, its deadtime, and the highest incarnation it heard of alpha.
    expect(JSON.parse(readFileSync(file, "utf8")).sections.heartbeat).toEqual({ incarnation: first, deadtimeMs: 300, peers: { alpha: incarnationOf(alpha) } });
    const again = await start(config, "bravo", { stateDir: dir, wallOffsetMs: -HOUR_MS });
    try {
      expect(incarnationOf(again)).toBe(first + 1);
      expect(JSON.parse(readFileSync(file, "utf8")).sections.heartbeat).toEqual({ incarnation: first + 1, deadtimeMs: 300, peers: { alpha: incarnationOf(alpha) } });
      await waitFor("alpha sees bravo up again", () => (peerOf(alpha, "bravo").status === "up" ? true : undefined), WAIT_MS, 10);
      expect(peerOf(alpha, "bravo").incarnation).toBe(first + 1);
      expect(dropped(alpha, "stale-incarnation")).toBe(0);
      expect(again.logged.filter((l) => Number(l.level) >= 50)).toEqual([]);
    } finally {
      await Promise.all([alpha.hb.stop(), again.hb.stop()]);
    }
  });

  test("without a state dir (the limit it lifts): a lower incarnation, whose frames alpha refuses as stale-incarnation; bravo is not up again", async () => {
    const config = await pairConfig();
    const { alpha, first } = await pairThenBravoStops(config, undefined);
    const again = await start(config, "bravo", { wallOffsetMs: -HOUR_MS });
    try {
      expect(incarnationOf(again)).toBeLessThan(first - (HOUR_MS - 1000) * 1000);
      await waitFor("ten of bravo's frames refused", () => (dropped(alpha, "stale-incarnation") >= 10 ? true : undefined), WAIT_MS, 10);
      expect(peerOf(alpha, "bravo").status).not.toBe("up");
      expect(peerOf(alpha, "bravo").incarnation).toBe(first);
    } finally {
      await Promise.all([alpha.hb.stop(), again.hb.stop()]);
    }
  });
});

describe("the kept incarnation", () => {
  test("a kept section that is not valid is logged and ignored: the incarnation is from the clock, and kept for the next start", async () => {
    const config = await pairConfig();
    const dir = join(tmp.dir, "bravo-bad");
    const store = new StateStore({ dir, cluster: config.cluster, node: "bravo", log: createLogger({ level: "silent" }), clock: realClock, events: new EventBus("bravo", Date.now), metrics: new Metrics() });
    store.put("heartbeat", { incarnation: "soon" });
    const before = Math.floor(Date.now()) * 1000;
    const bravo = await start(config, "bravo", { stateDir: dir });
    try {
      const incarnation = incarnationOf(bravo);
      expect(incarnation).toBeGreaterThanOrEqual(before);
      expect(incarnation).toBeLessThan((Date.now() + 1) * 1000);
      expect(bravo.logged.filter((l) => Number(l.level) >= 50)).toMatchObject([
        { section: "heartbeat", problem: `incarnation "soon" is not a whole number from 1 to ${Number.MAX_SAFE_INTEGER - 1}`, msg: "the kept incarnation is not valid; ignored: this start's is from the clock alone" },
      ]);
      expect(JSON.parse(readFileSync(join(dir, "bravo.state.json"), "utf8")).sections.heartbeat).toEqual({ incarnation, deadtimeMs: 300, peers: {} });
    } finally {
      await bravo.hb.stop();
    }
  });
});

describe("frames of an earlier run replayed to a restarted node (issue 12)", () => {
  test("bravo's captured heartbeats and goodbye, sent again from bravo's address to alpha restarted alone: alpha takes nothing from them", async () => {
    const config = await pairConfig();
    const dir = join(tmp.dir, "alpha-replayed");
    const captured: Uint8Array[] = [];
    const alpha = await start(config, "alpha", { stateDir: dir, datagrams: capturing("127.0.0.32", captured) });
    const bravo = await start(config, "bravo");
    try {
      // Past bravo's first deadtime its heartbeats lend its vote: alpha quorate on it.
      await waitFor("alpha quorate with bravo", () => (alpha.hb.status().quorate === true ? true : undefined), WAIT_MS, 10);
      await bravo.hb.stop();
      await waitFor("alpha sees bravo leave", () => (peerOf(alpha, "bravo").status === "leaving" ? true : undefined), WAIT_MS, 10);
    } finally {
      await Promise.all([alpha.hb.stop(), bravo.hb.stop()]);
    }
    expect(captured.length).toBeGreaterThan(5);
    const again = await start(config, "alpha", { stateDir: dir });
    try {
      await replay(captured, "127.0.0.32", "127.0.0.31", config.raw.heartbeat!.port);
      // Past initdead (600 ms) and the restart's deadtime (300 ms).
      await Bun.sleep(900);
      expect(again.hb.status().quorate).toBe(false);
      expect(peerOf(again, "bravo").status).not.toBe("leaving");
      expect(peerOf(again, "bravo").status).not.toBe("up");
      expect(again.events).toContain("heartbeat.goodbye-ignored");
    } finally {
      await again.hb.stop();
    }
  });
});

describe("the source-address filter (issue 12)", () => {
  test("frames sealed with the cluster key, from an address that is no node's, are dropped before any cryptography and change nothing", async () => {
    const config = await pairConfig();
    const alpha = await start(config, "alpha");
    try {
      const goodbye = encodeMessage({ kind: "goodbye" });
      const heartbeat = encodeMessage({ kind: "heartbeat", sentAt: 1, config: config.hash.slice(0, 8), holdsResources: true, view: [] });
      // Valid in every other respect: from bravo's address they would be admitted (the second test below).
      const forged = [heartbeat, goodbye].flatMap((payload, i) =>
        [1, 2, 3, 4, 5].map((seq) => encodeFrame({ cluster: config.cluster, sender: "bravo", incarnation: 1_000 + i, link: 0, seq, payload }, config.keys!, { encrypt: true })),
      );
      const garbage = [new Uint8Array(3), crypto.getRandomValues(new Uint8Array(200))];
      await replay([...forged, ...garbage], "127.0.0.99", "127.0.0.31", config.raw.heartbeat!.port);
      await waitFor("twelve datagrams from the unknown source", () => (bySource(alpha, "unknown") === 12 ? true : undefined), WAIT_MS, 10);
      expect(dropped(alpha, "unknown-source")).toBe(12);
      for (const reason of ["auth", "short", "magic", "wrong-source", "stale-incarnation"]) expect([reason, dropped(alpha, reason)]).toEqual([reason, 0]);
      expect(counter(alpha, 'tandem_heartbeat_frames_received_total{link="lo"}')).toBe(0);
      expect(bySource(alpha, "bravo")).toBe(0);
      expect(peerOf(alpha, "bravo")).toMatchObject({ status: "init", incarnation: null });
    } finally {
      await alpha.hb.stop();
    }
  });

  test("from bravo's address the same frames reach the cryptography; one naming another sender is dropped as wrong-source", async () => {
    const config = await pairConfig();
    const alpha = await start(config, "alpha");
    try {
      const heartbeat = encodeMessage({ kind: "heartbeat", sentAt: 1, config: config.hash.slice(0, 8), holdsResources: false, view: [] });
      const frame = (sender: string) => encodeFrame({ cluster: config.cluster, sender, incarnation: 1_000, link: 0, seq: 1, payload: heartbeat }, config.keys!, { encrypt: true });
      await replay([frame("bravo"), frame("alpha"), frame("mallory"), crypto.getRandomValues(new Uint8Array(200))], "127.0.0.32", "127.0.0.31", config.raw.heartbeat!.port);
      await waitFor("four datagrams from bravo", () => (bySource(alpha, "bravo") === 4 ? true : undefined), WAIT_MS, 10);
      expect(peerOf(alpha, "bravo")).toMatchObject({ status: "up", incarnation: 1_000 });
      expect(dropped(alpha, "own")).toBe(1);
      expect(dropped(alpha, "wrong-source")).toBe(1);
      expect(dropped(alpha, "magic")).toBe(1);
      expect(bySource(alpha, "unknown")).toBe(0);
    } finally {
      await alpha.hb.stop();
    }
  });
});

describe("the kept deadtime (issue 12: the restart gap)", () => {
  test("a restart with a smaller deadtime holds the kept one for itself, then keeps its own", async () => {
    const dir = join(tmp.dir, "bravo-deadtime");
    const file = join(dir, "bravo.state.json");
    const kept = () => JSON.parse(readFileSync(file, "utf8")).sections.heartbeat.deadtimeMs;
    const first = await start(await pairConfig("300ms"), "bravo", { stateDir: dir });
    await first.hb.stop();
    expect(kept()).toBe(300);
    const startedAt = Date.now();
    const again = await start(await pairConfig("200ms"), "bravo", { stateDir: dir });
    try {
      expect(kept()).toBe(300);
      await waitFor("the held deadtime to run out", () => (kept() === 200 ? true : undefined), WAIT_MS, 10);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
    } finally {
      await again.hb.stop();
    }
  });
});
