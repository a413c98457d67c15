/**
 * The proxy in the lab: a pair whose group is a virtual address and the
 * proxy resource, a frontend on the address's port 8080 over the lab's two
 * real servers, sticking clients by source. A client stuck to rs2 on alpha
 * (rs1 was in maintenance there when it came, then ready again) is still
 * sent to rs2 by bravo after alpha is killed and the group moves: the stick
 * entry reached bravo over the cluster bus, where a new client would go to
 * rs1 first. Needs root, and the data path (modules/proxy/worker.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { labCommand, labStatus, lbGroup, pairConfig, pairSecrets, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/proxy.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `pxctl${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 208) as [string]) : [""];
const VIP = `${LAN}50`;
const TOKEN = "proxy-lab-token-0123456789";
const tmp = tempDir("pxlab");
const CONFIG = join(tmp.dir, "tandem.toml");

let hosts: Record<string, LabHost> = {};

const group = `${lbGroup({ lan: LAN, vip: VIP, agent: "proxy", check: `{ kind = "http", path = "/", interval = "300ms", timeout = "200ms", rise = 1, fall = 2 }`, weights: [1, 1], monitor: "1s" })}
[proxy]
workers = 1

[[proxy.frontend]]
name = "www"
bind = ["${VIP}:8080"]
default_backend = "web"

[[proxy.backend]]
name = "web"
service = "web"
stick_on_source = true
`;

/** `count` requests from the client through the proxy, one connection each: the answers in order ("none" for a failed one). */
function ask(count: number): string[] {
  const script = `for i in $(seq ${count}); do curl -s --max-time 1 http://${VIP}:8080/ || echo none; done`;
  const p = Bun.spawnSync(["ip", "netns", "exec", hosts.client!.namespace, "sh", "-c", script], { timeout: 20_000 });
  return p.stdout.toString().split("\n").filter(Boolean);
}

async function proxy(node: string): Promise<{ active: boolean; backends: Array<{ stick: number }> }> {
  return (await fetch(`${hosts[node]!.api}v1/proxy/`, { signal: AbortSignal.timeout(2000) })).json() as never;
}

const post = (node: string, path: string) => fetch(`${hosts[node]!.api}v1/proxy/servers/${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });

describe.skipIf(!ROOT)("the proxy in the lab", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    writeFileSync(CONFIG, pairConfig({ cluster: "pxlab", lan: LAN, more: group }));
    const up = await tandem(["lab", "up", "-c", CONFIG, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = (await labStatus(LAB)).hosts;
    await waitFor("alpha's proxy to listen", async () => ((await proxy("alpha")).active ? true : undefined), 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("a client stuck to a server on alpha stays on it through bravo after a failover", async () => {
    expect((await proxy("bravo")).active).toBe(false);
    expect((await post("alpha", `web/${LAN}101:80/maint`)).status).toBe(200);
    expect(ask(3)).toEqual(["rs2", "rs2", "rs2"]);
    expect((await post("alpha", `web/${LAN}101:80/ready`)).status).toBe(200);
    expect(ask(3)).toEqual(["rs2", "rs2", "rs2"]);
    await waitFor("bravo to hold the client's entry", async () => ((await proxy("bravo")).backends[0]!.stick === 1 ? true : undefined), 5000, 100);

    await labCommand(LAB, "fault", "alpha", "kill");
    await waitFor("bravo's proxy to listen", async () => ((await proxy("bravo")).active ? true : undefined), 30_000, 200);
    await waitFor("the client to be served again", () => (ask(1)[0] !== "none" ? true : undefined), 15_000, 200);
    expect(ask(5)).toEqual(["rs2", "rs2", "rs2", "rs2", "rs2"]);
    await labCommand(LAB, "heal", "alpha");
  }, 90_000);
});
