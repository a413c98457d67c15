/**
 * The heartbeat links: where each link binds (pure), then real sockets —
 * two nodes on loopback in this process (no root needed), and, as root, three
 * nodes in network namespaces of this test's own, joined by two bridges, each
 * node a compiled program (links-peer.ts) driven over JSON lines.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Cancel, Clock } from "../../../core/time.ts";
import type { HeartbeatRaw, LinkRaw } from "../../../modules/heartbeat/config.ts";
import { Links, MAX_DATAGRAM, broadcastAddress, endpointOf, type LinkState, type LinkStatus } from "../../../modules/heartbeat/links.ts";
import { freeUdpPort, tempDir, waitFor } from "../../helpers.ts";

const ROOT = process.getuid?.() === 0;
const ROOT_DIR = join(import.meta.dir, "..", "..", "..");
const BUN = join(ROOT_DIR, "node_modules", ".bin", "bun");
const WAIT_MS = 3_000;

function heartbeat(links: Partial<LinkRaw>[], port = 694): HeartbeatRaw {
  return {
    interval: "100ms",
    warntime: "250ms",
    deadtime: "500ms",
    initdead: "1s",
    port,
    encrypt: true,
    links: links.map((l, i) => ({ name: `l${i}`, kind: "ucast", ttl: 1, ...l })),
  };
}

const text = (s: string) => new TextEncoder().encode(s);

describe("where a link binds and sends", () => {
  const nodes = [
    { name: "alpha", address: "198.18.7.11" },
    { name: "bravo", address: "198.18.7.12" },
    { name: "charlie", address: "198.18.7.13" },
  ];
  const [alpha] = nodes as [(typeof nodes)[0]];
  const eth1 = { eth1: [{ address: "198.18.107.11", netmask: "255.255.255.0", family: "IPv4" }] };

  test("ucast: bound to this node's address on the link, sends to each peer's", () => {
    const r = endpointOf({ name: "hb", kind: "ucast", ttl: 1, addresses: { alpha: "198.18.107.11", bravo: "198.18.107.12", charlie: "198.18.107.13" } }, nodes, alpha, {});
    expect(r).toEqual({ ok: true, endpoint: { bind: "198.18.107.11", local: "198.18.107.11", peers: new Map([["bravo", "198.18.107.12"], ["charlie", "198.18.107.13"]]) } });
    const lan = endpointOf({ name: "lan", kind: "ucast", ttl: 1 }, nodes, alpha, {});
    expect(lan.ok && [lan.endpoint.bind, [...lan.endpoint.peers.values()]]).toEqual(["198.18.7.11", ["198.18.7.12", "198.18.7.13"]]);
  });

  test("mcast: bound to the group, sends to it, joins on this node's link address", () => {
    const r = endpointOf({ name: "m", kind: "mcast", interface: "eth1", group: "239.192.0.9", ttl: 1 }, nodes, alpha, {});
    expect(r).toEqual({ ok: true, endpoint: { bind: "239.192.0.9", local: "198.18.7.11", peers: new Map(), destination: "239.192.0.9" } });
  });

  test("bcast: bound to the interface's broadcast address and sends to it; the interface must be up with an IPv4 address", () => {
    const link: LinkRaw = { name: "b", kind: "bcast", interface: "eth1", ttl: 1, addresses: { alpha: "198.18.107.11", bravo: "198.18.107.12", charlie: "198.18.107.13" } };
    expect(endpointOf(link, nodes, alpha, eth1)).toEqual({ ok: true, endpoint: { bind: "198.18.107.255", local: "198.18.107.11", peers: new Map(), destination: "198.18.107.255" } });
    const two = { eth1: [{ address: "fe80::1", netmask: "ffff::", family: "IPv6" }, { address: "198.18.96.5", netmask: "255.255.240.0", family: "IPv4" }, ...eth1.eth1] };
    expect(endpointOf(link, nodes, alpha, two)).toMatchObject({ ok: true, endpoint: { bind: "198.18.107.255", local: "198.18.107.11" } });
    expect(endpointOf({ ...link, addresses: undefined }, nodes, alpha, two)).toMatchObject({ ok: true, endpoint: { bind: "198.18.111.255", local: "198.18.96.5" } });
    expect(endpointOf(link, nodes, alpha, {})).toEqual({ ok: false, error: "no interface eth1 (or it is down)" });
    expect(endpointOf(link, nodes, alpha, { eth1: [{ address: "fe80::1", netmask: "ffff::", family: "IPv6" }] })).toEqual({ ok: false, error: "interface eth1 has no IPv4 address" });
  });

  test("broadcast addresses", () => {
    expect(broadcastAddress("198.18.7.11", "255.255.255.0")).toBe("198.18.7.255");
    expect(broadcastAddress("198.18.7.11", "255.255.254.0")).toBe("198.18.7.255");
    expect(broadcastAddress("198.18.6.11", "255.255.254.0")).toBe("198.18.7.255");
    expect(broadcastAddress("198.19.200.1", "255.254.0.0")).toBe("198.19.255.255");
    expect(broadcastAddress("198.18.7.11", "255.255.255.252")).toBe("198.18.7.11");
  });
});

/** Timers that fire only when told. */
class ManualClock implements Clock {
  private timers: { at: number; fn: () => void }[] = [];
  private t = 0;
  now = () => this.t;
  wall = () => this.t;
  after(ms: number, fn: () => void): Cancel {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((x) => x !== timer));
  }
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
  }
  get pending(): number {
    return this.timers.length;
  }
}

interface Received {
  link: number;
  from: string;
  text: string;
}

describe("two nodes on loopback", () => {
  const nodes = [
    { name: "alpha", address: "127.0.0.11" },
    { name: "bravo", address: "127.0.0.12" },
  ];
  let port = 0;
  let hb: HeartbeatRaw;
  const made: { close(): void }[] = [];

  function node(name: string, opts: { clock?: Clock; onFrame?: (bytes: Uint8Array, link: number, from: string) => void } = {}) {
    const got: Received[] = [];
    const states: [number, LinkState][] = [];
    const links = new Links({
      heartbeat: hb,
      nodes,
      self: nodes.find((n) => n.name === name)!,
      clock: opts.clock ?? new ManualClock(),
      onFrame: opts.onFrame ?? ((bytes, link, from) => got.push({ link, from, text: new TextDecoder().decode(bytes) })),
      onLinkState: (link, state) => states.push([link, state]),
    });
    made.push(links);
    return { links, got, states };
  }

  beforeAll(async () => {
    port = await freeUdpPort();
    hb = heartbeat([{ name: "lan" }, { name: "hb", addresses: { alpha: "127.0.0.21", bravo: "127.0.0.22" } }], port);
  });
  afterEach(() => {
    for (const l of made.splice(0)) l.close();
  });

  test("ucast both ways, each frame attributed to the link it came on", async () => {
    const a = node("alpha");
    const b = node("bravo");
    await Promise.all([a.links.start(), b.links.start()]);
    expect(a.links.status().map((s) => [s.name, s.bound, s.state])).toEqual([
      ["lan", `127.0.0.11:${port}`, { up: true }],
      ["hb", `127.0.0.21:${port}`, { up: true }],
    ]);
    expect(a.states.sort((x, y) => x[0] - y[0])).toEqual([[0, { up: true }], [1, { up: true }]]);
    a.links.send(0, "bravo", text("a0"));
    a.links.send(1, "all", text("a1"));
    b.links.send(1, "alpha", text("b1"));
    b.links.send(0, "all", text("b0"));
    await waitFor("both frames at each node", () => (a.got.length === 2 && b.got.length === 2 ? true : undefined), WAIT_MS);
    expect(b.got.sort((x, y) => x.link - y.link)).toEqual([
      { link: 0, from: "127.0.0.11", text: "a0" },
      { link: 1, from: "127.0.0.21", text: "a1" },
    ]);
    expect(a.got.sort((x, y) => x.link - y.link)).toEqual([
      { link: 0, from: "127.0.0.12", text: "b0" },
      { link: 1, from: "127.0.0.22", text: "b1" },
    ]);
    expect(a.links.status().map((s) => s.counters.sent)).toEqual([1, 1]);
    expect(b.links.status().map((s) => s.counters.received)).toEqual([1, 1]);
    a.links.close();
    b.links.close();
  });

  test("oversized datagrams are dropped and counted; garbage of any size never crashes; a throwing handler is counted", async () => {
    let throwing = false;
    const got: number[] = [];
    const b = node("bravo", {
      onFrame: (bytes) => {
        if (throwing) throw new Error("a broken handler");
        got.push(bytes.length);
      },
    });
    await b.links.start();
    const raw = await Bun.udpSocket({ hostname: "127.0.0.11", socket: { error: () => {} } });
    made.push(raw);
    const sizes = [0, 1, 7, MAX_DATAGRAM, MAX_DATAGRAM + 1, 1500, 9000, 65507];
    for (const [round, size] of sizes.entries()) {
      for (let k = 0; k < 3; k++) raw.send(crypto.getRandomValues(new Uint8Array(size)), port, "127.0.0.12");
      await waitFor(`${size}-byte datagrams counted`, () => {
        const c = b.links.status()[0]!.counters;
        return c.received + c.oversized === 3 * (round + 1) ? c : undefined;
      }, WAIT_MS);
    }
    expect(got).toEqual([0, 0, 0, 1, 1, 1, 7, 7, 7, MAX_DATAGRAM, MAX_DATAGRAM, MAX_DATAGRAM]);
    expect(b.links.status()[0]!.counters).toMatchObject({ received: 12, oversized: 12, handlerErrors: 0 });
    throwing = true;
    raw.send(text("boom"), port, "127.0.0.12");
    await waitFor("the handler's error counted", () => (b.links.status()[0]!.counters.handlerErrors === 1 ? true : undefined), WAIT_MS);
    throwing = false;
    raw.send(text("after"), port, "127.0.0.12");
    await waitFor("a frame after the throw", () => (got.includes(5) ? true : undefined), WAIT_MS);
    raw.close();
    b.links.close();
  });

  test("the caller's mistakes throw; the network's never do", async () => {
    const a = node("alpha");
    await a.links.start();
    expect(() => a.links.send(0, "bravo", new Uint8Array(MAX_DATAGRAM + 1))).toThrow("over MAX_DATAGRAM");
    expect(() => a.links.send(2, "bravo", text("x"))).toThrow("no link 2");
    expect(() => a.links.send(0, "zulu", text("x"))).toThrow('"zulu" is not a peer');
    expect(() => a.links.send(0, "alpha", text("x"))).toThrow('"alpha" is not a peer');
    // Nobody listens at bravo: the ICMP port unreachable comes back to the socket and is counted.
    a.links.send(0, "bravo", text("x"));
    await waitFor("the unreachable counted", () => (a.links.status()[0]!.counters.unreachable >= 1 ? true : undefined), WAIT_MS);
    // Sends on to the dead port: each refusal is counted, and the link, which sends, never turns down.
    for (let i = 0; i < 5; i++) {
      a.links.send(0, "bravo", text(`again ${i}`));
      await Bun.sleep(5);
    }
    expect(a.links.status()[0]!.counters.unreachable).toBeGreaterThanOrEqual(2);
    expect(a.states.filter(([link, state]) => link === 0 && !state.up)).toEqual([]);
    a.links.close();
    a.links.close();
    a.links.send(0, "bravo", text("after close"));
    expect(a.links.status().map((s) => s.bound)).toEqual([null, null]);
    expect(a.links.status()[0]!.counters.sent).toBe(6);
  });

  test("a link that cannot open reports it, counts its sends, tries again, and opens when it can; the other link works meanwhile", async () => {
    const squatter = await Bun.udpSocket({ hostname: "127.0.0.21", port });
    made.push(squatter);
    const clock = new ManualClock();
    const a = node("alpha", { clock });
    const b = node("bravo");
    await Promise.all([a.links.start(), b.links.start()]);
    expect(a.states.sort((x, y) => x[0] - y[0])).toEqual([[0, { up: true }], [1, { up: false, error: `cannot open on 127.0.0.21:${port}: bind EADDRINUSE 127.0.0.21` }]]);
    expect(a.links.status()[1]).toMatchObject({ bound: null, state: { up: false } });
    a.links.send(1, "bravo", text("lost"));
    a.links.send(0, "bravo", text("fine"));
    await waitFor("the frame on the working link", () => (b.got.length === 1 ? true : undefined), WAIT_MS);
    expect(b.got).toEqual([{ link: 0, from: "127.0.0.11", text: "fine" }]);
    expect(a.links.status()[1]!.counters.sendErrors).toBe(1);
    expect(clock.pending).toBe(1);
    const otherClock = new ManualClock();
    const other = node("alpha", { clock: otherClock });
    await other.links.start();
    expect(otherClock.pending).toBe(2);
    other.links.close();
    expect(otherClock.pending).toBe(0);
    clock.advance(1000);
    await waitFor("the retry fails again", () => (clock.pending === 1 ? true : undefined), WAIT_MS);
    expect(a.states.length).toBe(2);
    squatter.close();
    clock.advance(1000);
    await waitFor("the link opens", () => (a.states.length === 3 ? true : undefined), WAIT_MS);
    expect(a.states[2]).toEqual([1, { up: true }]);
    expect(clock.pending).toBe(0);
    a.links.send(1, "bravo", text("back"));
    await waitFor("the frame on the reopened link", () => (b.got.length === 2 ? true : undefined), WAIT_MS);
    expect(b.got[1]).toEqual({ link: 1, from: "127.0.0.21", text: "back" });
    a.links.close();
    b.links.close();
  });
});

if (!ROOT) console.log("test/modules/heartbeat/links.test.ts: namespace tests skipped: they need root (network namespaces, veth, bridges)");

/** A lab of this test's own: a switch namespace with two bridges; nodes a, b, c each on both (eth0, eth1). */
const TAG = `tlk${process.pid}`;
const SWITCH = `${TAG}-sw`;
const LAN = "198.18.240.";
const HB = "198.18.241.";
const GROUP = "239.192.240.1";
const NODES = ["a", "b", "c"].map((name, i) => ({ name, address: `${LAN}${11 + i}`, hb: `${HB}${11 + i}`, ns: `${TAG}-${name}` }));
const NS_CONFIG = heartbeat([
  { name: "lan", kind: "ucast" },
  { name: "hb", kind: "mcast", interface: "eth1", group: GROUP, addresses: Object.fromEntries(NODES.map((n) => [n.name, n.hb])) },
  { name: "bc", kind: "bcast", interface: "eth0" },
]);

function ip(...args: string[]): void {
  const r = Bun.spawnSync(["ip", ...args], { stdout: "ignore", stderr: "pipe", timeout: 5_000 });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.toString().trim()}`);
}

/** One node: the compiled links-peer.ts in its namespace, spoken to in JSON lines. */
class Peer {
  readonly proc: ReturnType<typeof Bun.spawn<"pipe", "pipe", "pipe">>;
  readonly lines: Record<string, unknown>[] = [];
  private stderr = "";

  constructor(bin: string, ns: string, name: string) {
    const setup = { heartbeat: NS_CONFIG, nodes: NODES.map((n) => ({ name: n.name, address: n.address })), self: name };
    this.proc = Bun.spawn(["ip", "netns", "exec", ns, bin, JSON.stringify(setup)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    void this.collect(this.proc.stdout, (l) => this.lines.push(JSON.parse(l) as Record<string, unknown>));
    void this.collect(this.proc.stderr, (l) => (this.stderr += `${l}\n`));
  }

  private async collect(stream: ReadableStream<Uint8Array>, line: (l: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stream) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const p of parts) if (p.trim()) line(p);
    }
  }

  command(cmd: Record<string, unknown>): void {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    this.proc.stdin.flush();
  }

  send(link: number, to: string, text: string): void {
    this.command({ send: { link, to, text } });
  }

  frames(): Received[] {
    return this.lines.filter((l) => l.event === "frame").map(({ link, from, text }) => ({ link, from, text }) as Received);
  }

  async waitFrame(text: string, count = 1): Promise<Received[]> {
    return waitFor(`${count} frame(s) "${text}"${this.stderr ? ` (stderr: ${this.stderr})` : ""}`, () => {
      const got = this.frames().filter((f) => f.text === text);
      return got.length >= count ? got : undefined;
    }, WAIT_MS);
  }

  async status(): Promise<LinkStatus[]> {
    const before = this.lines.length;
    this.command({ status: true });
    const line = await waitFor("status", () => this.lines.slice(before).find((l) => l.event === "status"), WAIT_MS);
    return line.links as LinkStatus[];
  }

  get alive(): boolean {
    return this.proc.exitCode === null;
  }
}

describe.skipIf(!ROOT)("three nodes in network namespaces (root)", () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  const peers = new Map<string, Peer>();
  const peer = (name: string) => peers.get(name)!;
  const addr = (name: string) => NODES.find((n) => n.name === name)!;

  beforeAll(async () => {
    tmp = tempDir("links");
    const bin = join(tmp.dir, "links-peer");
    const built = Bun.spawnSync([BUN, "build", "--compile", join(import.meta.dir, "links-peer.ts"), "--outfile", bin], { stdout: "ignore", stderr: "pipe", timeout: 30_000 });
    if (built.exitCode !== 0) throw new Error(`bun build --compile links-peer.ts: ${built.stderr.toString()}`);
    ip("netns", "add", SWITCH);
    for (const br of ["br0", "br1"]) {
      ip("-n", SWITCH, "link", "add", br, "type", "bridge");
      ip("-n", SWITCH, "link", "set", br, "up");
    }
    for (const n of NODES) {
      ip("netns", "add", n.ns);
      ip("-n", n.ns, "link", "set", "lo", "up");
      for (const [k, address] of [n.address, n.hb].entries()) {
        ip("-n", SWITCH, "link", "add", `${n.name}${k}`, "type", "veth", "peer", "name", `eth${k}`, "netns", n.ns);
        ip("-n", SWITCH, "link", "set", `${n.name}${k}`, "master", `br${k}`, "up");
        ip("-n", n.ns, "addr", "add", `${address}/24`, "dev", `eth${k}`);
        ip("-n", n.ns, "link", "set", `eth${k}`, "up");
      }
    }
    for (const n of NODES) peers.set(n.name, new Peer(bin, n.ns, n.name));
    for (const p of peers.values()) await waitFor("a node ready", () => p.lines.find((l) => l.event === "ready"), WAIT_MS);
  }, 30_000);

  afterAll(async () => {
    for (const p of peers.values()) {
      p.proc.kill("SIGKILL");
      await p.proc.exited;
    }
    for (const ns of [...NODES.map((n) => n.ns), SWITCH]) Bun.spawnSync(["ip", "netns", "del", ns], { stdout: "ignore", stderr: "ignore", timeout: 5_000 });
    tmp?.cleanup();
  });

  test("every link is open on port 694: ucast on the node's address, mcast on the group, bcast on eth0's broadcast address", async () => {
    for (const n of NODES) {
      const ready = peer(n.name).lines.find((l) => l.event === "ready")!.links as LinkStatus[];
      expect(ready.map((s) => [s.name, s.kind, s.bound, s.state.up])).toEqual([
        ["lan", "ucast", `${n.address}:694`, true],
        ["hb", "mcast", `${GROUP}:694`, true],
        ["bc", "bcast", `${LAN}255:694`, true],
      ]);
    }
  });

  test("ucast both ways, to one peer and to all", async () => {
    peer("a").send(0, "b", "u-ab");
    expect(await peer("b").waitFrame("u-ab")).toEqual([{ link: 0, from: addr("a").address, text: "u-ab" }]);
    peer("b").send(0, "a", "u-ba");
    expect(await peer("a").waitFrame("u-ba")).toEqual([{ link: 0, from: addr("b").address, text: "u-ba" }]);
    peer("c").send(0, "all", "u-c*");
    for (const n of ["a", "b"]) expect(await peer(n).waitFrame("u-c*")).toEqual([{ link: 0, from: addr("c").address, text: "u-c*" }]);
    expect(peer("c").frames().some((f) => f.text === "u-ab")).toBe(false);
  });

  test("mcast on the second bridge reaches both other members, from the sender's address on that network, not the sender", async () => {
    peer("a").send(1, "all", "m-a");
    for (const n of ["b", "c"]) expect(await peer(n).waitFrame("m-a")).toEqual([{ link: 1, from: addr("a").hb, text: "m-a" }]);
    peer("c").send(1, "all", "m-c");
    for (const n of ["a", "b"]) expect(await peer(n).waitFrame("m-c")).toEqual([{ link: 1, from: addr("c").hb, text: "m-c" }]);
    expect(peer("a").frames().some((f) => f.text === "m-a")).toBe(false);
  });

  test("bcast reaches both other nodes; the sender's own broadcast comes back and is dropped as its own", async () => {
    peer("b").send(2, "all", "b-b");
    for (const n of ["a", "c"]) expect(await peer(n).waitFrame("b-b")).toEqual([{ link: 2, from: addr("b").address, text: "b-b" }]);
    const own = await waitFor("b's own broadcast counted", async () => ((await peer("b").status())[2]!.counters.own >= 1 ? true : undefined), WAIT_MS);
    expect(own).toBe(true);
    expect(peer("b").frames().some((f) => f.text === "b-b")).toBe(false);
  });

  test("the same frame on ucast and bcast, both on eth0 and port 694, arrives twice, once per link", async () => {
    peer("a").send(0, "all", "twice");
    peer("a").send(2, "all", "twice");
    for (const n of ["b", "c"]) expect((await peer(n).waitFrame("twice", 2)).map((f) => f.link).sort()).toEqual([0, 2]);
  });

  test("a link whose interface goes down: sends do not throw and are counted, the link reports down, the other links deliver; up again, it delivers", async () => {
    const a = peer("a");
    const since = a.lines.length;
    const changes = () => a.lines.slice(since).filter((l) => l.event === "state" && l.link === 1);
    ip("-n", addr("a").ns, "link", "set", "eth1", "down");
    a.send(1, "all", "m-lost");
    const down = await waitFor("a's hb link down", () => changes()[0], WAIT_MS);
    expect(down.state).toMatchObject({ up: false });
    expect(String((down.state as { error: string }).error)).toContain("ENETUNREACH");
    a.send(0, "b", "u-while-down");
    a.send(2, "all", "b-while-down");
    expect(await peer("b").waitFrame("u-while-down")).toEqual([{ link: 0, from: addr("a").address, text: "u-while-down" }]);
    expect(await peer("c").waitFrame("b-while-down")).toEqual([{ link: 2, from: addr("a").address, text: "b-while-down" }]);
    expect(a.alive).toBe(true);
    expect((await a.status())[1]!.counters.sendErrors).toBeGreaterThanOrEqual(1);
    ip("-n", addr("a").ns, "link", "set", "eth1", "up");
    await waitFor("a's hb link delivers again", async () => {
      a.send(1, "all", "m-back");
      await Bun.sleep(100);
      return peer("b").frames().some((f) => f.text === "m-back") ? true : undefined;
    }, WAIT_MS);
    expect(changes().map((l) => (l.state as LinkState).up)).toEqual([false, true]);
    expect(peer("b").frames().some((f) => f.text === "m-lost")).toBe(false);
  });

  test("garbage and oversized datagrams at every link's address are dropped or passed on as bytes, never a crash", async () => {
    const before = await peer("b").status();
    const targets = [addr("b").address, GROUP, `${LAN}255`];
    for (const to of targets) for (const size of [0, 3, MAX_DATAGRAM, MAX_DATAGRAM + 1, 9000]) peer("c").command({ raw: { to, port: 694, size, via: addr("c").hb } });
    const after = await waitFor("b counted every datagram", async () => {
      const s = await peer("b").status();
      const seen = s.map((l, i) => l.counters.received + l.counters.oversized - before[i]!.counters.received - before[i]!.counters.oversized);
      return seen.every((n) => n === 5) ? s : undefined;
    }, WAIT_MS);
    expect(peer("c").lines.filter((l) => l.event === "error")).toEqual([]);
    expect(after.map((l, i) => l.counters.oversized - before[i]!.counters.oversized)).toEqual([2, 2, 2]);
    expect(peer("a").alive && peer("b").alive).toBe(true);
    peer("a").send(0, "b", "still-here");
    await peer("b").waitFrame("still-here");
  });

  // Last: it ends c's process.
  test("a peer whose process is gone: each refusal is counted as unreachable, and the link, which still sends, stays up", async () => {
    const c = peer("c");
    c.proc.kill("SIGKILL");
    await c.proc.exited;
    const a = peer("a");
    const since = a.lines.length;
    // Sent back to back, as a heartbeat sends on all its links: a refusal then comes back on a send.
    for (let i = 0; i < 40; i++) a.send(0, "c", `to-the-dead ${i}`);
    await Bun.sleep(100);
    const lan = (await a.status())[0]!;
    expect(lan.counters.unreachable).toBeGreaterThanOrEqual(2);
    expect(lan.state).toEqual({ up: true });
    expect(a.lines.slice(since).filter((l) => l.event === "state")).toEqual([]);
    a.send(0, "b", "after-the-dead");
    await peer("b").waitFrame("after-the-dead");
  });
});
