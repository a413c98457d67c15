/**
 * Issue 11's measured failure, as a regression test: in a lab pair at
 * interval 20 ms / deadtime 80 ms, 150 clients replaying
 * `GET /v1/events?since=0` and 50 sending `HEAD /v1/events` in a loop against
 * the node that holds the address, with no token, once moved the address to
 * the peer. The API now runs on a thread of its own: the flood must leave the
 * heartbeat alone (alpha never silent long enough to be declared dead, the
 * address where it was) and every request answered. bravo gets no request; a
 * stall of its own is the machine's (it holds nothing), logged, not failed.
 *
 * The machine is a witness too: on a small shared lab machine the whole
 * machine sometimes stops (seen: a sleeping process of its own woke 60 ms late
 * with nothing of ours running, 958 ms late during a flood at a plain
 * Bun.serve in alpha's namespace, which stalled bravo's loop by 86 ms too).
 * The witness (witness.ts) is a loop like alpha's control loop without an API,
 * in alpha's namespace at the same priority; a disruption it explains (its
 * own loop stopped STOPPED_MS or more within the silence) is the machine's
 * and excused; any other fails the test. Measured here with
 * the same flood: 15 to 19 peers declared down in 8 s before the API had its
 * own thread; none since (and 3 to 8 per run with the control thread under
 * SCHED_RR, see core/os/sched.ts). The clients run on one core (taskset):
 * they stand for machines elsewhere. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { labCommand, labStatus, pairConfig, pairSecrets, vipGroup, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/isolation.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `iso${process.pid % 100000}`;
const [LAN, HB] = ROOT ? (freeSubnets(2, 200) as [string, string]) : ["", ""];
const VIP = `${LAN}50`;
const TIMERS = { interval: 20, warntime: 50, deadtime: 80, initdead: 1000 };
const FLOOD = { replay: 150, heads: 50, seconds: 8 };
/** A stop of the machine this long within a silence explains a death: the rest of deadtime is two intervals. */
const STOPPED_MS = TIMERS.deadtime - 2 * TIMERS.interval;
/** The core the clients run on: the last one. */
const CLIENT_CPU = navigator.hardwareConcurrency - 1;
const tmp = tempDir("isolab");
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");
let hosts: Record<string, LabHost & { log?: string | null }> = {};

/** A node's events of `type` since `since`, from its log. */
function events(node: string, type: string, since: number): Array<Record<string, any>> {
  return readFileSync(hosts[node]!.log!, "utf8")
    .split("\n")
    .filter((l) => l.includes(`"event":"${type}"`))
    .map((l) => JSON.parse(l))
    .filter((e) => e.time >= since);
}

describe.skipIf(!ROOT)("the API's load does not reach the heartbeat", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, "isolation-lab-token-0123456789");
    const file = join(tmp.dir, "tandem.toml");
    writeFileSync(
      file,
      pairConfig({
        cluster: "isolab",
        lan: LAN,
        hb: HB,
        timers: TIMERS,
        more: vipGroup("web", VIP),
        // The flood measures the heartbeat's isolation from the API's load, not the API's limits: room for every client.
        api: "max_connections = 1024\nmax_sse_clients = 512\n",
      }),
    );
    const up = await tandem(["lab", "up", "-c", file, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = (await labStatus(LAB)).hosts;
    await waitFor("the address started on alpha", () => (events("alpha", "resources.state", 0).some((e) => e.resource === "vip" && e.state === "started") ? true : undefined), 15_000);
  }, 60_000);

  afterAll(async () => {
    await labCommand(LAB, "down");
    tmp.cleanup();
  }, 60_000);

  test(`${FLOOD.replay} SSE replay clients and ${FLOOD.heads} HEAD loops for ${FLOOD.seconds} s: alpha never silent, the address stays, every request answered`, async () => {
    const since = Date.now();
    const flood = Bun.spawn(["ip", "netns", "exec", hosts.client!.namespace, "taskset", "-c", String(CLIENT_CPU), BUN, join(import.meta.dir, "api-flood.ts"), hosts.alpha!.api!.replace(/\/$/, ""), String(FLOOD.replay), String(FLOOD.heads), String(FLOOD.seconds)], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // setsid: the witness raises its own session's autogroup, not the test runner's (and so the clients').
    const witness = Bun.spawn(["ip", "netns", "exec", hosts.alpha!.namespace, "setsid", "-w", BUN, join(import.meta.dir, "witness.ts"), String(FLOOD.seconds + 1), String(STOPPED_MS), `${LAN}12`], { stdout: "pipe", stderr: "pipe" });
    const done = JSON.parse(await new Response(flood.stdout).text()) as { replays: number; heads: number; failed: number; errors: string[] };
    const machine = JSON.parse(await new Response(witness.stdout).text()) as { raised: boolean; spans: Array<[number, number]> };
    expect(machine.raised).toBe(true);
    expect(done.errors).toEqual([]);
    expect(done.failed).toBe(0);
    expect(done.replays).toBeGreaterThan(FLOOD.replay);
    expect(done.heads).toBeGreaterThan(FLOOD.heads);
    // The flooded node fell silent: bravo declared it down (silent for silentMs), or it knows it stalled long enough to be declared dead (gapMs).
    const disruptions = [
      ...events("bravo", "heartbeat.peer", since).filter((e) => e.status === "down").map((e) => ({ what: "bravo declared alpha down", to: e.time, from: e.time - e.silentMs })),
      ...events("alpha", "heartbeat.stall", since).filter((e) => e.maybeDeclaredDead).map((e) => ({ what: "alpha stalled", to: e.time, from: e.time - e.gapMs })),
    ];
    const explained = (d: { from: number; to: number }) => machine.spans.some(([from, to]) => from < d.to && to > d.from);
    expect(disruptions.filter((d) => !explained(d))).toEqual([]);
    // bravo gets no request: a stall of its own is the machine's, and it holds nothing to move.
    const bravoStalls = events("bravo", "heartbeat.stall", since).filter((e) => e.maybeDeclaredDead);
    if (disruptions.length || bravoStalls.length) console.log(`isolation: excused: ${JSON.stringify({ disruptions, bravoStalls: bravoStalls.map((e) => e.gapMs), machine: machine.spans })}`);
    if (!disruptions.length) for (const node of ["alpha", "bravo"]) expect(events(node, "resources.action", since).filter((e) => e.resource === "vip" && e.action !== "monitor")).toEqual([]);
  }, 30_000);
});
