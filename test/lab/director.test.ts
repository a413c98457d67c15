/**
 * The director in the lab, on the nftables dataplane: a pair whose group is a
 * virtual address and the director resource; a virtual service on the
 * address's port 80 over the lab's two real servers (weights 3 and 1, wrr,
 * NAT), checked by HTTP. The real servers answer the client through the
 * director (a route to the client via the virtual address, as LVS-NAT wants).
 *
 * Checked as a client sees it: the spread follows the weights; a real server
 * stopped is taken out within fall × interval + timeout and put back after
 * rise; a drain and a weight change apply without dropping an established
 * connection; a failover of the director's group keeps serving. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { directorGroup, labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/director.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `dr${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 208) as [string]) : [""];
const VIP = `${LAN}50`;
const CHECK = { interval: 300, timeout: 200, rise: 2, fall: 2 };
const TOKEN = "director-lab-token-0123456789";
const tmp = tempDir("drlab");
const CONFIG = join(tmp.dir, "tandem.toml");
/** Slack on the check bound: a reconcile (nft), the status poll, a loaded machine. */
const SLACK_MS = 1500;

let hosts: Record<string, LabHost> = {};

const sh = (argv: string[]) => {
  const p = Bun.spawnSync(argv, { timeout: 10_000 });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
};

const lab = (...args: string[]) => labCommand(LAB, ...args);

/** `count` new connections from the client to the virtual service; the answers by real server. */
function spread(count: number): Record<string, number> {
  const script = `for i in $(seq ${count}); do curl -s --max-time 1 http://${VIP}/ || echo none; done`;
  const r = sh(["ip", "netns", "exec", hosts.client!.namespace, "sh", "-c", script]);
  const out: Record<string, number> = {};
  for (const line of r.out.split("\n").filter(Boolean)) out[line.trim()] = (out[line.trim()] ?? 0) + 1;
  return out;
}

async function director(node: string): Promise<any> {
  return (await fetch(`${hosts[node]!.api}v1/director/`, { signal: AbortSignal.timeout(2000) })).json();
}

async function serverState(node: string, rs: string): Promise<{ healthy: boolean; weight: number | null }> {
  const d = await director(node);
  return d.virtualServices[0].servers.find((s: { address: string }) => s.address === rs);
}

const post = (node: string, path: string) => fetch(`${hosts[node]!.api}v1/director/${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });

describe.skipIf(!ROOT)("the director in the lab (nftables)", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    writeFileSync(
      CONFIG,
      pairConfig({
        cluster: "drlab",
        lan: LAN,
        more: directorGroup({
          lan: LAN,
          vip: VIP,
          check: `{ kind = "http", path = "/", interval = "${CHECK.interval}ms", timeout = "${CHECK.timeout}ms", rise = ${CHECK.rise}, fall = ${CHECK.fall} }`,
        }),
      }),
    );
    const up = await tandem(["lab", "up", "-c", CONFIG, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = (await labStatus(LAB)).hosts;
    for (const rs of ["rs1", "rs2"]) sh(["ip", "-n", hosts[rs]!.namespace, "route", "add", `${LAN}100/32`, "via", VIP]);
    await waitFor("the client to be served through the virtual service", () => (spread(4).rs1 ? true : undefined), 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("alpha is the active director, bravo stands by with its checks warm and the same dataplane programmed; the spread follows the weights 3:1", async () => {
    const a = await director("alpha");
    const b = await director("bravo");
    expect(a.active).toBe(true);
    expect(b.active).toBe(false);
    expect(b.virtualServices[0].servers.every((s: { healthy: boolean }) => s.healthy)).toBe(true);
    expect(b.virtualServices[0].servers.map((s: { weight: number }) => s.weight)).toEqual([3, 1]);
    expect(sh(["ip", "netns", "exec", hosts.bravo!.namespace, "nft", "list", "table", "ip", "tandem_lb"]).out).toContain(`${VIP} . tcp . 80`);
    const got = spread(80);
    expect(got.none ?? 0).toBe(0);
    expect(got.rs1! + got.rs2!).toBe(80);
    expect(got.rs1! / got.rs2!).toBeGreaterThan(2);
    expect(got.rs1! / got.rs2!).toBeLessThan(4.5);
  }, 60_000);

  test("a real server stopped is taken out within fall × interval + timeout, and back after rise", async () => {
    const at = Date.now();
    await lab("fault", "rs2", "kill");
    await waitFor("alpha to take rs2 out", async () => ((await serverState("alpha", `${LAN}102`)).weight === null ? true : undefined), 10_000, 50);
    expect(Date.now() - at).toBeLessThan(CHECK.fall * CHECK.interval + CHECK.timeout + SLACK_MS);
    expect(spread(20)).toEqual({ rs1: 20 });
    const healed = Date.now();
    await lab("heal", "rs2");
    await waitFor("alpha to put rs2 back", async () => ((await serverState("alpha", `${LAN}102`)).weight === 1 ? true : undefined), 10_000, 50);
    expect(Date.now() - healed).toBeLessThan(CHECK.rise * CHECK.interval + CHECK.timeout + SLACK_MS + 2000);
    expect(spread(40).rs2).toBeGreaterThan(0);
  }, 60_000);

  test("drain and weight through the API: new connections follow, an established connection is not dropped", async () => {
    const held = Bun.spawn(["ip", "netns", "exec", hosts.client!.namespace, "bash", "-c", `exec 3<>/dev/tcp/${VIP}/80 && sleep 2 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    await Bun.sleep(300);
    expect((await post("alpha", `servers/web/${LAN}101:80/drain`)).status).toBe(200);
    expect((await post("alpha", `servers/web/${LAN}102:80/weight/5`)).status).toBe(200);
    await waitFor("the drain to be programmed", async () => ((await serverState("alpha", `${LAN}101`)).weight === 0 ? true : undefined), 5000, 50);
    expect(spread(20)).toEqual({ rs2: 20 });
    const answer = await new Response(held.stdout).text();
    expect(await held.exited).toBe(0);
    expect(answer).toMatch(/rs[12]\n$/);
    expect((await post("alpha", `servers/web/${LAN}101:80/enable`)).status).toBe(200);
    expect((await post("alpha", `servers/web/${LAN}102:80/enable`)).status).toBe(200);
    expect((await post("alpha", "servers/web/198.18.0.9:80/drain")).status).toBe(404);
    expect((await post("alpha", `servers/web/${LAN}101:80/weight/heavy`)).status).toBe(400);
    await waitFor("rs1 back at weight 3", async () => ((await serverState("alpha", `${LAN}101`)).weight === 3 ? true : undefined), 5000, 50);
  }, 30_000);

  test("the CLI: status shows each server's health and weight; drain and enable through it; a bad server is a usage error", async () => {
    const cli = (...args: string[]) => tandem(["director", ...args, "-c", CONFIG, "--node", "alpha"], { timeoutMs: 15_000 });
    const st = await cli();
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("dataplane nftables, active");
    expect(st.stdout).toMatch(new RegExp(`web/${LAN.replaceAll(".", "\\.")}101:80\\s+healthy, weight 3`));
    const drained = await cli("drain", "web", `${LAN}101:80`);
    expect(drained.code).toBe(0);
    await waitFor("rs1 drained", async () => ((await serverState("alpha", `${LAN}101`)).weight === 0 ? true : undefined), 5000, 50);
    expect((await cli()).stdout).toContain("drained (admin: drain)");
    expect((await cli("enable", "web", `${LAN}101:80`)).code).toBe(0);
    await waitFor("rs1 back at weight 3", async () => ((await serverState("alpha", `${LAN}101`)).weight === 3 ? true : undefined), 5000, 50);
    const bad = await cli("drain", "web", "198.18.0.9:80");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no real server "web/198.18.0.9:80"');
  }, 30_000);

  test("a failover of the director's group keeps serving: bravo takes the address and programs the dataplane", async () => {
    await lab("fault", "alpha", "kill");
    await waitFor("the client to be served through bravo", async () => ((await director("bravo")).active && spread(2).rs1 ? true : undefined), 15_000, 100);
    const got = spread(20);
    expect(got.none ?? 0).toBe(0);
  }, 30_000);
});
