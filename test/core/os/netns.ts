/**
 * What the kernel-interface tests share: two network namespaces joined by a
 * veth pair (eth0 on each side), the code under test run inside one of them
 * (netlink acts on the caller's namespace), and iproute2 as the second
 * opinion on what the kernel holds. Names carry the test's tag and PID;
 * addresses are a free 198.18.x.0/24 and a ULA prefix that exists only
 * inside these namespaces.
 */
import { resolve } from "node:path";
import { freeSubnets } from "../../lab/net.ts";

export const ROOT = process.getuid?.() === 0;
export const BUN = resolve(import.meta.dir, "../../../node_modules/.bin/bun");
export const IFNAME = "eth0";
const COMMAND_TIMEOUT_MS = 10_000;
const HELPER_ANSWER_MS = 10_000;
const HELPER_EXIT_MS = 3_000;

export interface Pair {
  /** Where the code under test runs. */
  a: string;
  /** The peer that hears its announcements. */
  b: string;
  /** "198.18.N." */
  v4: string;
  /** "fd00:0:0:N::" */
  v6: string;
}

/** Runs a command to its end; throws with its stderr when it fails (unless `allowFail`). */
export function sh(argv: string[], allowFail = false): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argv, { timeout: COMMAND_TIMEOUT_MS, stdout: "pipe", stderr: "pipe" });
  const out = { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  if (out.code !== 0 && !allowFail) throw new Error(`${argv.join(" ")}: exit ${out.code}: ${out.stderr.trim()}`);
  return out;
}

export const ip = (ns: string, ...args: string[]) => sh(["ip", "-n", ns, ...args]).stdout;
export const sysctl = (ns: string, key: string, value: string) => sh(["ip", "netns", "exec", ns, "sysctl", "-qw", `${key}=${value}`]);

/** Two namespaces `tdt-TAG-PID-a|b`, eth0 in each, up; the peer holds .2 and ::2 and accepts gratuitous ARP. */
export function setupPair(tag: string, offset: number): Pair {
  const [v4] = freeSubnets(1, offset);
  if (!v4) throw new Error("no free 198.18.x.0/24");
  const n = Number(v4.split(".")[2]);
  const pair = { a: `tdt-${tag}-${process.pid}-a`, b: `tdt-${tag}-${process.pid}-b`, v4, v6: `fd00:0:0:${n.toString(16)}::` };
  sh(["ip", "netns", "add", pair.a]);
  sh(["ip", "netns", "add", pair.b]);
  sh(["ip", "link", "add", IFNAME, "netns", pair.a, "type", "veth", "peer", "name", IFNAME, "netns", pair.b]);
  for (const ns of [pair.a, pair.b]) {
    ip(ns, "link", "set", "lo", "up");
    ip(ns, "link", "set", IFNAME, "up");
  }
  ip(pair.b, "addr", "add", `${v4}2/24`, "dev", IFNAME);
  ip(pair.b, "addr", "add", `${pair.v6}2/64`, "dev", IFNAME, "nodad");
  sysctl(pair.b, `net.ipv4.conf.${IFNAME}.arp_accept`, "1");
  return pair;
}

/** Deletes the namespaces (and with them the veth pair); safe to call on a half-made pair. */
export function teardown(pair: Pair | undefined): void {
  if (!pair) return;
  for (const ns of [pair.a, pair.b]) sh(["ip", "netns", "del", ns], true);
}

/** The interface's MAC as iproute2 shows it. */
export function macOf(ns: string, ifname = IFNAME): string {
  return JSON.parse(ip(ns, "-j", "link", "show", ifname))[0].address;
}

/** The neighbour entry for `address` on the peer, as iproute2 shows it. */
export function neighbour(ns: string, address: string): { lladdr?: string; state?: string[] } | undefined {
  return JSON.parse(ip(ns, "-j", "neigh", "show", address, "dev", IFNAME))[0];
}

/** iproute2's view of one address on eth0: its remaining valid lifetime (or "forever"), or undefined when absent. */
export function ipAddress(ns: string, address: string): { valid: number | "forever"; preferred: number | "forever"; flags: string[] } | undefined {
  const [link] = JSON.parse(ip(ns, "-j", "addr", "show", "dev", IFNAME));
  const info = (link?.addr_info ?? []).find((a: { local: string }) => a.local === address);
  if (!info) return undefined;
  const life = (n: number) => (n === 0xffffffff ? "forever" : n);
  return { valid: life(info.valid_life_time), preferred: life(info.preferred_life_time), flags: Object.keys(info).filter((k) => info[k] === true) };
}

/**
 * How long after its valid lifetime the kernel may leave an address: its
 * sweep runs from a workqueue on a timer rounded to whole seconds (IPv4), and
 * here it came 3 to 480 ms late; on a loaded CI machine it once came more than
 * 2.5 s late. Tests that wait for an expiry wait longer than this, so a late
 * sweep is reported with its figure rather than as "never".
 */
export const KERNEL_SWEEP_SLACK_MS = 3500;

/**
 * Polls until `check` holds or the time runs out; the time it took, or null.
 * One last look follows the deadline, so a stall of this process across it
 * does not read as "never".
 */
export async function timeUntil(check: () => boolean, withinMs: number, everyMs = 10): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < withinMs) {
    if (check()) return performance.now() - t0;
    await Bun.sleep(everyMs);
  }
  return check() ? performance.now() - t0 : null;
}

/**
 * A bun script run inside a namespace (`ip netns exec` execs it, so the PID
 * is the script's) that answers one JSON line per JSON line sent.
 */
export class Helper {
  readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  private pending = "";
  private readonly lines: string[] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(ns: string, script: string, args: string[]) {
    this.proc = Bun.spawn(["ip", "netns", "exec", ns, BUN, script, ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    void this.pump();
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      this.pending += decoder.decode(chunk, { stream: true });
      const parts = this.pending.split("\n");
      this.pending = parts.pop()!;
      this.lines.push(...parts.filter((l) => l.trim()));
      this.wake?.();
    }
    this.ended = true;
    this.wake?.();
  }

  /** The next answer line, parsed. */
  async next(withinMs = HELPER_ANSWER_MS): Promise<any> {
    const deadline = performance.now() + withinMs;
    while (!this.lines.length) {
      if (this.ended) throw new Error(`the helper ended without answering: ${await new Response(this.proc.stderr).text()}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no answer from the helper within ${withinMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
    }
    return JSON.parse(this.lines.shift()!);
  }

  async send(command: object): Promise<any> {
    this.proc.stdin.write(`${JSON.stringify(command)}\n`);
    await this.proc.stdin.flush();
    return this.next();
  }

  /** Ends its input and waits for it to exit; SIGKILL (by its PID) if it does not. */
  async end(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      this.proc.stdin.end();
    } catch {
      // Its input is already closed.
    }
    const exited = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(HELPER_EXIT_MS).then(() => false)]);
    if (!exited) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}
