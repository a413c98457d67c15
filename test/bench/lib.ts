/** What the benchmarks share: statistics, tables with the anchor beside Tandem, /proc readings. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Row {
  figure: string;
  unit: string;
  tandem: number;
  anchor: number;
  /** "lower" when a smaller figure is better (times, memory, CPU). */
  better: "lower" | "higher";
}

export interface Table {
  title: string;
  anchor: string;
  method: string;
  rows: Row[];
}

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Ratio Tandem / anchor, with a word saying which side is better. */
export function ratio(r: Row): string {
  const x = r.tandem / r.anchor;
  if (!Number.isFinite(x)) return "n/a";
  const tandemBetter = r.better === "lower" ? x < 1 : x > 1;
  return `${x.toFixed(2)}× (${tandemBetter ? "Tandem better" : x === 1 ? "equal" : "anchor better"})`;
}

export function render(t: Table): string {
  const head = ["figure", "Tandem", t.anchor, "Tandem / anchor"];
  const body = t.rows.map((r) => [`${r.figure} (${r.unit})`, fmt(r.tandem), fmt(r.anchor), ratio(r)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [`### ${t.title}`, "", t.method, "", line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...body.map(line), ""].join("\n");
}

/** Resident memory of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU time (user + system) of a process in seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state is [0]; utime and stime are [11] and [12].
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const CLOCK_TICKS = 100;

export function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

export function netnsPids(ns: string): number[] {
  return sh(["ip", "netns", "pids", ns]).split("\n").filter(Boolean).map(Number);
}

/** How long `Lines.waitFor` waits by default. */
const EVENT_TIMEOUT_MS = 5000;

/** A child's output lines, each stamped with the wall time it arrived; read as it comes, so the child never blocks. */
export class Lines {
  readonly lines: Array<{ at: number; text: string }> = [];
  constructor(stream: ReadableStream<Uint8Array>) {
    void (async () => {
      const dec = new TextDecoder();
      let rest = "";
      for await (const chunk of stream) {
        const at = Date.now();
        rest += dec.decode(chunk, { stream: true });
        const parts = rest.split("\n");
        rest = parts.pop()!;
        for (const text of parts) this.lines.push({ at, text });
      }
    })();
  }
  async waitFor(pred: (text: string) => boolean, after: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<{ at: number; text: string }> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const hit = this.lines.find((l) => l.at >= after && pred(l.text));
      if (hit) return hit;
      await Bun.sleep(2);
    }
    throw new Error(`the expected event did not come within ${timeoutMs} ms; last lines: ${this.lines.slice(-3).map((l) => l.text.slice(0, 200)).join(" / ")}`);
  }
}


/**
 * The pair both failover benches run: alpha .1 and bravo .2 on `net.lan`, a
 * second link on `net.hb`, heartbeat at 20 ms / deadtime 80 ms; `more` adds
 * sections. Writes the key and the config into `dir`; returns the config's path.
 */
export function benchPairConfig(dir: string, bin: string, cluster: string, net: { lan: string; hb: string }, more = ""): string {
  sh([bin, "keygen", "-o", join(dir, "k")]);
  const file = join(dir, "tandem.toml");
  writeFileSync(
    file,
    `cluster = "${cluster}"
key_file = "k"
[[nodes]]
name = "alpha"
address = "${net.lan}.1"
[[nodes]]
name = "bravo"
address = "${net.lan}.2"
[heartbeat]
interval = "20ms"
warntime = "50ms"
deadtime = "80ms"
initdead = "200ms"
[[heartbeat.links]]
name = "lan"
kind = "ucast"
[[heartbeat.links]]
name = "hb"
kind = "ucast"
addresses = { alpha = "${net.hb}.1", bravo = "${net.hb}.2" }
${more}`,
  );
  return file;
}

export interface Node {
  ns: string;
  name: "alpha" | "bravo";
  host: number;
}

export interface Topology {
  nodes: Record<"alpha" | "bravo", Node>;
  client: string;
  down(): void;
  links(node: Node, up: boolean): void;
}

/**
 * A switch namespace with a bridge; alpha (.1), bravo (.2) and a client (.50)
 * on it as eth0 of their namespaces (TAG-a, TAG-b, TAG-c), and a second link
 * eth1 between the two nodes on `net.hb`.
 */
export function bridgedPair(tag: string, net: { lan: string; hb: string }): Topology {
  const sw = `${tag}-sw`;
  const client = `${tag}-c`;
  const nodes = { alpha: { ns: `${tag}-a`, name: "alpha" as const, host: 1 }, bravo: { ns: `${tag}-b`, name: "bravo" as const, host: 2 } };
  const all = [sw, client, nodes.alpha.ns, nodes.bravo.ns];
  const down = () => {
    for (const ns of all) {
      for (const pid of netnsPids(ns)) process.kill(pid, "SIGKILL");
      Bun.spawnSync(["ip", "netns", "del", ns]);
    }
  };
  for (const ns of all) sh(["ip", "netns", "add", ns]);
  try {
    sh(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", sw, "link", "set", "br0", "up"]);
    const join = (ns: string, port: string, host: number) => {
      sh(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      sh(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"]);
      sh(["ip", "-n", ns, "addr", "add", `${net.lan}.${host}/24`, "dev", "eth0"]);
      sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    };
    join(nodes.alpha.ns, "p-alpha", 1);
    join(nodes.bravo.ns, "p-bravo", 2);
    join(client, "p-client", 50);
    sh(["ip", "-n", nodes.alpha.ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", nodes.bravo.ns]);
    for (const n of Object.values(nodes)) {
      sh(["ip", "-n", n.ns, "addr", "add", `${net.hb}.${n.host}/24`, "dev", "eth1"]);
      sh(["ip", "-n", n.ns, "link", "set", "eth1", "up"]);
    }
  } catch (e) {
    down();
    throw e;
  }
  const links = (node: Node, up: boolean) => {
    sh(["ip", "-n", sw, "link", "set", `p-${node.name}`, up ? "up" : "down"]);
    sh(["ip", "-n", node.ns, "link", "set", "eth1", up ? "up" : "down"]);
  };
  return { nodes, client, down, links };
}
