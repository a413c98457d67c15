/**
 * Issue 12's replayed goodbye, in the lab: a pair without an arbiter (nor ping
 * targets), the compiled binary. Bravo's frames, its clean stop included, are
 * captured on alpha's side (heartbeat-capture.ts); alpha restarts alone while
 * bravo stays stopped, and the capture is sent to it again from bravo's
 * addresses (heartbeat-replay.ts, in bravo's namespace). Alpha must take
 * nothing from it: not quorate, bravo not `leaving`, the virtual address not
 * started. Before the fix it became quorate alone and started the address.
 * Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { LAB_TIMERS, labCommand, labStatus, pairLabUp, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/heartbeat-replay.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `hbr${process.pid % 100000}`;
const [LAN, HB] = ROOT ? (freeSubnets(2, 240) as [string, string]) : ["", ""];
const VIP = `${LAN}50`;
const TOKEN = "heartbeat-replay-lab-token-0123";
const tmp = tempDir("hbrlab");
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");
let hosts: Record<string, LabHost> = {};

async function status(node: string): Promise<any> {
  const body = (await (await fetch(`${hosts[node]!.api}v1/status`, { signal: AbortSignal.timeout(2000) })).json()) as { modules: { heartbeat: unknown } };
  return body.modules.heartbeat;
}

const hasVip = (node: string) => Bun.spawnSync(["ip", "-n", hosts[node]!.namespace, "-4", "addr", "show"]).stdout.toString().includes(`${VIP}/`);
const pidGone = (pid: number) => Bun.spawnSync(["test", "-e", `/proc/${pid}`]).exitCode !== 0;

describe.skipIf(!ROOT)("a replayed goodbye in the lab (issue 12)", () => {
  beforeAll(async () => {
    await pairLabUp(LAB, tmp.dir, TOKEN, {
      cluster: "hbrlab",
      lan: LAN,
      hb: HB,
      stateDir: "state",
      more: `
[resources]
[[resources.group]]
name = "web"
members = ["vip"]

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${VIP}/24", interface = "eth0" }
monitor_interval = "1s"
`,
    });
    ({ hosts } = await labStatus(LAB));
    await waitFor("alpha quorate with bravo up", async () => ((await status("alpha")).quorate && (await status("alpha")).peers.bravo?.status === "up" ? true : undefined), 15_000);
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("bravo's captured clean stop, replayed from its addresses to alpha restarted alone: alpha not quorate, bravo not leaving, no address", async () => {
    const capture = Bun.spawn(["ip", "netns", "exec", hosts.alpha!.namespace, BUN, resolve(import.meta.dir, "heartbeat-capture.ts"), "694", "4", `${LAN}12`, `${HB}12`], { stdout: "pipe", stderr: "pipe" });
    try {
      const reader = capture.stderr.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toContain("capturing");
      reader.releaseLock();
      await Bun.sleep(500);
      const bravo = hosts.bravo!.process!.pid;
      process.kill(bravo, "SIGTERM");
      await waitFor("alpha to see bravo leave", async () => ((await status("alpha")).peers.bravo.status === "leaving" ? true : undefined), 5000, 20);
      await waitFor("bravo's process to exit", () => (pidGone(bravo) ? true : undefined), 15_000);
    } finally {
      await capture.exited;
    }
    const captured = await new Response(capture.stdout).text();
    const file = join(tmp.dir, "captured.jsonl");
    writeFileSync(file, captured);
    expect(captured.split("\n").filter(Boolean).length).toBeGreaterThan(10);

    // Alpha's process killed and started again: bravo, stopped, does not come back.
    await labCommand(LAB, "fault", "alpha", "kill");
    await labCommand(LAB, "heal", "alpha");
    ({ hosts } = await labStatus(LAB));
    const replay = Bun.spawnSync(["ip", "netns", "exec", hosts.bravo!.namespace, BUN, resolve(import.meta.dir, "heartbeat-replay.ts"), file, "694"], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(replay.stderr.toString()).toBe("");
    expect(Number(replay.stdout.toString())).toBeGreaterThan(10);
    // Past the restart's deadtime and initdead, and a monitor's interval for an address that would have started.
    await Bun.sleep(LAB_TIMERS.initdead + LAB_TIMERS.deadtime + 1000);
    const a = await status("alpha");
    expect(a.quorate).toBe(false);
    expect(a.peers.bravo.status).not.toBe("leaving");
    expect(a.peers.bravo.status).not.toBe("up");
    expect(hasVip("alpha")).toBe(false);
  }, 60_000);
});
