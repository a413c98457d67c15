/**
 * Fencing in the lab: a pair with one exclusive resource (Debian's
 * ocf:heartbeat:Dummy). The holder's daemon is SIGKILLed, so the peer cannot
 * know whether the resource still runs: it must fence before it takes over.
 * First the only fence device fails (a command that exits 1): no takeover,
 * and status says why. Then a reload adds the lab's power device after it:
 * at the next try the broken device fails, the lab device powers the node
 * off, and only then does the survivor start the resource. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { labHosts, labPowerDevice, pairConfig, pairSecrets } from "./config.ts";
import { FENCE_RETRY_MS } from "../../modules/resources/service.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/fencing.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `fe${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 176) as [string]) : [""];
const TOKEN = "fencing-lab-token-0123456789";
const tmp = tempDir("felab");
const CONFIG = join(tmp.dir, "tandem.toml");

interface Host {
  name: string;
  api: string | null;
  faults: string[];
}
let hosts: Record<string, Host> = {};

function config(devices: string): string {
  return pairConfig({
    cluster: "felab",
    lan: LAN,
    more: `
[resources]
[[resources.resource]]
name = "dummy"
agent = "ocf:heartbeat:Dummy"
monitor_interval = "2s"

[[resources.location]]
group = "dummy"
node = "alpha"
score = 100
${devices}
`,
  });
}

const BROKEN = `
[[resources.fence_device]]
name = "broken"
agent = "exec"
params = { command = ["/bin/false"] }
timeout = "5s"
`;
const LAB_DEVICE = labPowerDevice(LAB);

const labStatus = (): Promise<Record<string, Host>> => labHosts(LAB);

async function resources(node: string): Promise<any> {
  return (await fetch(`${hosts[node]!.api}v1/resources/`, { signal: AbortSignal.timeout(2000) })).json();
}

describe.skipIf(!ROOT)("fencing in the lab", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    writeFileSync(CONFIG, config(BROKEN));
    const up = await tandem(["lab", "up", "-c", CONFIG, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = await labStatus();
    await waitFor("dummy to run on alpha", async () => ((await resources("bravo")).resources.dummy.states.alpha === "started" ? true : undefined), 20_000, 100);
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("the holder lost uncleanly, its fence failing: no takeover, and the survivor says why", async () => {
    await tandem(["lab", "fault", "alpha", "kill", "--name", LAB]);
    const failed = await waitFor(
      "bravo to record the failed fence",
      async () => {
        const r = await resources("bravo");
        return r.nodes.find((n: { name: string }) => n.name === "alpha").fence === "failed" ? r : undefined;
      },
      10_000,
      100,
    );
    expect(failed.notes.join("\n")).toContain("fencing alpha failed");
    await Bun.sleep(1000);
    const after = await resources("bravo");
    expect(after.resources.dummy.states.bravo).toBe("stopped");
    expect(after.operations).toEqual([]);
  }, 30_000);

  test("a reload adds the lab's power device: at the next try alpha is powered off, then dummy starts on bravo", async () => {
    writeFileSync(CONFIG, config(BROKEN + LAB_DEVICE));
    const reload = await fetch(`${hosts.bravo!.api}v1/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reload.status).toBe(202);
    await waitFor("dummy to start on bravo", async () => ((await resources("bravo")).resources.dummy.states.bravo === "started" ? true : undefined), FENCE_RETRY_MS + 15_000, 200);
    expect((await labStatus()).alpha!.faults).toContain("power");
    const r = await resources("bravo");
    expect(r.nodes.find((n: { name: string }) => n.name === "alpha").fence).toBe("fenced");
  }, 60_000);

  test("the fenced node back: it probes, and the pair settles with dummy on one node", async () => {
    await tandem(["lab", "heal", "alpha", "--name", LAB], { timeoutMs: 30_000 });
    await waitFor(
      "both nodes to agree that dummy runs on exactly one node",
      async () => {
        for (const n of ["alpha", "bravo"]) {
          const st = (await resources(n).catch(() => null))?.resources.dummy.states;
          if (!st || Object.values(st).filter((s) => s === "started").length !== 1 || Object.values(st).some((s) => s !== "started" && s !== "stopped")) return undefined;
        }
        return true;
      },
      20_000,
      200,
    );
  }, 40_000);
});
