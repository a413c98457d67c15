/**
 * The lab's touch on the system: `ip` for namespaces and links, /proc for
 * processes, curl for probes (it runs inside a namespace, where this process
 * cannot). Every call is bounded in time.
 */
import { closeSync, openSync, readFileSync } from "node:fs";

/** Bound on one `ip` command. */
export const IP_TIMEOUT_MS = 5_000;
/** Bound on one HTTP probe. */
export const PROBE_TIMEOUT_MS = 1_000;
/** How long to wait for killed processes to be gone. */
export const KILL_WAIT_MS = 5_000;
export const POLL_MS = 100;

export class LabError extends Error {}

export interface IpResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export function ip(args: string[]): IpResult {
  const r = Bun.spawnSync(["ip", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: IP_TIMEOUT_MS, killSignal: "SIGKILL" });
  return { ok: r.exitCode === 0, stdout: r.stdout.toString(), stderr: r.stderr.toString().trim() };
}

/** `tc` inside a namespace (tc -n NS ...), bounded like `ip`. */
export function tcOrThrow(ns: string, args: string[]): void {
  const r = Bun.spawnSync(["tc", "-n", ns, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: IP_TIMEOUT_MS, killSignal: "SIGKILL" });
  if (r.exitCode !== 0) throw new LabError(`tc -n ${ns} ${args.join(" ")}: ${r.stderr.toString().trim() || "failed"}`);
}

/** An nft script (`nft -f -`) inside a namespace, bounded like `ip`. */
export function nftOrThrow(ns: string, script: string): void {
  const r = Bun.spawnSync(["ip", "netns", "exec", ns, "nft", "-f", "-"], { stdin: new TextEncoder().encode(script), stdout: "pipe", stderr: "pipe", timeout: IP_TIMEOUT_MS, killSignal: "SIGKILL" });
  if (r.exitCode !== 0) throw new LabError(`nft in ${ns}: ${r.stderr.toString().trim() || "failed"} (script: ${script.trim().replace(/\n/g, "; ")})`);
}

export function ipOrThrow(args: string[]): string {
  const r = ip(args);
  if (!r.ok) throw new LabError(`ip ${args.join(" ")}: ${r.stderr || "failed"}`);
  return r.stdout;
}

function ipJson<T>(args: string[]): T[] {
  const out = ipOrThrow(["-j", ...args]).trim();
  return out ? (JSON.parse(out) as T[]) : [];
}

export function namespaces(): Set<string> {
  return new Set(ipJson<{ name: string }>(["netns", "list"]).map((n) => n.name));
}

export function hostLinkNames(): Set<string> {
  return new Set(ipJson<{ ifname: string }>(["link", "show"]).map((l) => l.ifname));
}

export interface HostAddress {
  ifname: string;
  address: string;
  prefixLength: number;
}

/** The IPv4 addresses on the host namespace's interfaces. */
export function hostAddresses(): HostAddress[] {
  const links = ipJson<{ ifname: string; addr_info?: { local: string; prefixlen: number }[] }>(["-4", "addr", "show"]);
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => ({ ifname: l.ifname, address: a.local, prefixLength: a.prefixlen })));
}

export function namespacePids(ns: string): number[] {
  const r = ip(["netns", "pids", ns]);
  return r.ok ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** Field 3 (state) and field 22 (start time, in clock ticks since boot) of /proc/PID/stat. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "?", startTime: fields[19] ?? "" };
}

export type ProcessState = "running" | "stopped" | "frozen";

/** running, frozen (SIGSTOPped), or stopped: gone, a zombie, or another process that reused the PID. */
export function processState(pid: number, startTime?: string): ProcessState {
  const st = procStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return "stopped";
  if (startTime !== undefined && st.startTime !== startTime) return "stopped";
  return st.state === "T" || st.state === "t" ? "frozen" : "running";
}

/**
 * Start argv inside a namespace, detached: a session of its own (setsid),
 * stdin from /dev/null, stdout and stderr appended to `log`. `ip netns exec`
 * execs the command, so the PID is the command's own.
 */
export function spawnIn(ns: string, argv: string[], log: string, env: Record<string, string> = {}): { pid: number; startTime: string } {
  return spawnDetached(["ip", "netns", "exec", ns, ...argv], `${argv.join(" ")} in ${ns}`, log, env);
}

/** A process in a session of its own, output to `log`, left running when this one exits. */
export function spawnDetached(argv: string[], what: string, log: string, env: Record<string, string> = {}): { pid: number; startTime: string } {
  const fd = openSync(log, "a", 0o600);
  try {
    const proc = Bun.spawn(argv, { cwd: "/", detached: true, stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
    proc.unref();
    const st = procStat(proc.pid);
    if (!st) throw new LabError(`${what} exited at once; see ${log}`);
    return { pid: proc.pid, startTime: st.startTime };
  } finally {
    closeSync(fd);
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/** SIGKILL every PID and wait, bounded, until each is gone. Returns those still there. */
export async function killAll(pids: number[]): Promise<number[]> {
  for (const pid of pids) signal(pid, "SIGKILL");
  const deadline = Date.now() + KILL_WAIT_MS;
  let left = pids;
  while (left.length && Date.now() < deadline) {
    await Bun.sleep(POLL_MS);
    left = left.filter((pid) => processState(pid) !== "stopped");
  }
  return left;
}

/** Does GET url answer 2xx within PROBE_TIMEOUT_MS? From inside `ns` when given, else from the host. */
export async function probe(url: string, ns?: string): Promise<boolean> {
  const curl = ["curl", "--noproxy", "*", "--silent", "--fail", "--output", "/dev/null", "--max-time", String(PROBE_TIMEOUT_MS / 1000), url];
  const argv = ns ? ["ip", "netns", "exec", ns, ...curl] : curl;
  const proc = Bun.spawn(argv, { stdio: ["ignore", "ignore", "ignore"], timeout: PROBE_TIMEOUT_MS * 2, killSignal: "SIGKILL" });
  return (await proc.exited) === 0;
}

export function hasCommand(name: string): boolean {
  return Bun.which(name) !== null;
}
