/**
 * The heartbeat shell: opens the links, keeps only datagrams from the other
 * nodes' configured link addresses (before any cryptography: forged traffic
 * from elsewhere costs a lookup, not a decryption), seals and opens frames
 * (envelope), admits them once (replay guard), feeds the engine, performs its
 * effects, and ticks it at its deadlines. Every dropped datagram is counted by
 * reason, and every datagram by source.
 */
import { parseDuration } from "../../core/duration.ts";
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import { EngineLoop } from "../../core/engine-loop.ts";
import { adaptersOf } from "../../core/adapters.ts";
import type { Counter } from "../../core/metrics.ts";
import { decodeFrame, encodeFrame } from "./envelope.ts";
import { ReplayGuard } from "./replay.ts";
import { decodeMessage, encodeMessage, type Message } from "./messages.ts";
import { deadtimeOf, initialState, nextDeadline, step, type Effect, type HbParams, type Input, type State } from "./engine.ts";
import { Links } from "./links.ts";
import { linkAddress } from "./config.ts";
import { Upstream } from "./upstream.ts";
import { STATE_SECTION, keptDeadtime, keptPeers, nextIncarnation, type Kept } from "./incarnation.ts";
import { MAX_PAYLOAD } from "./envelope.ts";
import { FRAGMENT_HEADER_BYTES, MAX_FRAGMENTS, Reassembly, fragment } from "./fragments.ts";
import type { ClusterBus, ClusterSnapshot, MemberStatus } from "../../core/cluster.ts";

/** What an app message adds to its data: kind, channel, length. */
const APP_HEADER_BYTES = 4;
/** The largest fragment: what a frame carries of an app message. */
const APP_CHUNK_BYTES = MAX_PAYLOAD - APP_HEADER_BYTES;
/** The longest app message: MAX_FRAGMENTS frames. */
export const MAX_APP_MESSAGE_BYTES = MAX_FRAGMENTS * (APP_CHUNK_BYTES - FRAGMENT_HEADER_BYTES);

/**
 * A tick this late past its deadline finds the loop was not running: it waits
 * one turn, so the frames that arrived meanwhile are fed first (a peer's echo
 * there may show it has not declared this node dead, or renew a lease), as
 * EngineLoop's readFirstWhenLateMs says. Timers fire within a millisecond or
 * two when the loop runs.
 */
const LATE_TICK_MS = 5;

/** The engine's events that come with every change of a peer's status or incarnation, or of quorum. */
const MEMBERSHIP_EVENTS: ReadonlySet<string> = new Set(["heartbeat.peer", "heartbeat.quorum", "heartbeat.started"]);

const MEMBER_STATUS: Record<string, MemberStatus> = { up: "up", leaving: "leaving", down: "down", init: "unknown" };

export function paramsOf(config: Config, self: string): HbParams {
  const hb = config.raw.heartbeat!;
  const node = config.nodes.find((n) => n.name === self)!;
  return {
    self,
    role: node.roles.includes("arbiter") ? "arbiter" : "member",
    members: config.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name),
    arbiter: config.nodes.find((n) => n.roles.includes("arbiter"))?.name ?? null,
    links: hb.links.map((l) => l.name),
    intervalMs: parseDuration(hb.interval)!,
    warntimeMs: parseDuration(hb.warntime)!,
    deadtimeMs: parseDuration(hb.deadtime)!,
    initdeadMs: parseDuration(hb.initdead)!,
    ping: hb.ping !== undefined,
    config: config.hash.slice(0, 8),
  };
}

/** What a change of these needs: new sockets (not just new timers or keys). */
function socketsOf(config: Config): string {
  const hb = config.raw.heartbeat!;
  return JSON.stringify({ port: hb.port, links: hb.links, nodes: config.nodes.map((n) => [n.name, n.address]) });
}

/** The source label of a datagram from an address that is no other node's on its link: one label for all of them. */
export const UNKNOWN_SOURCE = "unknown";

interface Meters {
  bySource: Counter;
  sent: Counter;
  received: Counter;
  dropped: Counter;
  late: Counter;
}

export class HeartbeatService implements ModuleInstance {
  /** The engine, stepped and ticked at its deadlines; a new one at each start. */
  private loop: EngineLoop<State, Input, Effect> | null = null;
  private links: Links | null = null;
  private config!: Config;
  private guard!: ReplayGuard;
  private readonly seq: number[] = [];
  /** Per link: the sent and received series, bound once. */
  private cells: Array<{ sent: { value: number }; received: { value: number } }> = [];
  /** Per link: the other nodes' addresses on it, to each its node's name and datagram count. */
  private sources: Array<Map<string, { node: string; count: { value: number } }>> = [];
  private unknownSource!: { value: number };
  private encoded: { message: Message; bytes: Uint8Array } | null = null;
  private upstream: Upstream | null = null;
  /** A new one at every start (incarnation.ts): a millisecond timestamp with a random tail, so a quick restart still rises. */
  private incarnation!: number;
  /** What the state dir keeps for the next start (incarnation.ts), as last written. */
  private kept!: Kept;
  private readonly m: Meters;
  private readonly watchers = new Set<() => void>();
  private readonly listeners = new Map<number, Set<(from: string, data: Uint8Array) => void>>();
  /** Peer statuses and quorum as last told to the watchers. */
  private told = "";
  private withdraw: (() => void) | null = null;
  private readonly reassembly = new Reassembly();
  private nextAppId = 1;

  constructor(private readonly ctx: ModuleContext) {
    const mx = ctx.metrics;
    this.m = {
      bySource: mx.counter("tandem_heartbeat_datagrams_by_source_total", `datagrams on the heartbeat port, by source node ("${UNKNOWN_SOURCE}": not another node's address on the link), counted before any cryptography`),
      sent: mx.counter("tandem_heartbeat_frames_sent_total", "heartbeat frames sent, by link"),
      received: mx.counter("tandem_heartbeat_frames_received_total", "heartbeat frames received and admitted, by link"),
      dropped: mx.counter("tandem_heartbeat_frames_dropped_total", "datagrams dropped on the heartbeat port, by reason"),
      late: mx.counter("tandem_heartbeat_late_total", "heartbeats later than warntime, by peer"),
    };
    const peers = () => (this.loop ? Object.values(this.state.peers) : []);
    const links = () => peers().flatMap((peer) => peer.links.map((l, i) => ({ peer: peer.name, link: this.state.p.links[i]!, l })));
    mx.collect("tandem_heartbeat_peer_up", "1 when the peer is up", () => peers().map((p) => ({ labels: { peer: p.name }, value: p.status === "up" ? 1 : 0 })));
    mx.collect("tandem_heartbeat_link_up", "1 when the link to the peer is up", () => links().map(({ peer, link, l }) => ({ labels: { peer, link }, value: l.up ? 1 : 0 })));
    mx.collect("tandem_heartbeat_rtt_seconds", "round-trip time to the peer on the link", () =>
      links().flatMap(({ peer, link, l }) => (l.rttMs === null ? [] : [{ labels: { peer, link }, value: l.rttMs / 1000 }])),
    );
    mx.collect("tandem_heartbeat_quorate", "1 when this node has quorum", () => (this.loop ? [{ labels: {}, value: this.state.quorate ? 1 : 0 }] : []));
  }

  async start(config: Config): Promise<void> {
    const kept = this.ctx.state.get(STATE_SECTION);
    this.incarnation = this.newIncarnation(kept);
    const held = keptDeadtime(kept);
    this.apply(config);
    const p = paramsOf(config, this.ctx.node.name);
    this.keep({ incarnation: this.incarnation, deadtimeMs: Math.max(p.deadtimeMs, held ?? 0), peers: Object.fromEntries(keptPeers(kept, this.others(config))) });
    this.loop = new EngineLoop(this.ctx.clock, initialState(p), {
      step: (state, input) => {
        const next = step(state, input);
        this.ctx.adapters?.steps?.("heartbeat", { input, effects: next.effects, state: next.state });
        return next;
      },
      nextDeadline,
      tick: () => ({ type: "tick", now: this.ctx.clock.now() }),
      perform: (e) => this.perform(e),
      settled: (effects) => this.tell(effects),
      readFirstWhenLateMs: LATE_TICK_MS,
    });
    this.guard = this.newGuard(config);
    this.links = await this.open(config);
    this.feed({ type: "start", now: this.ctx.clock.now(), incarnation: this.incarnation, keptDeadtimeMs: held });
    this.startUpstream();
    this.withdraw = this.ctx.services.provide("cluster", this.bus());
  }

  async reload(config: Config): Promise<void> {
    const old = this.config;
    if (socketsOf(config) !== socketsOf(old)) {
      const next = await this.open(config);
      this.links?.close();
      this.links = next;
      this.guard = this.newGuard(config);
    }
    const pingChanged = JSON.stringify(old.raw.heartbeat!.ping) !== JSON.stringify(config.raw.heartbeat!.ping);
    this.apply(config);
    // Timers, links and members are the engine's to apply (its `reload` input).
    this.feed({ type: "reload", now: this.ctx.clock.now(), p: paramsOf(config, this.ctx.node.name) });
    if (pingChanged) {
      this.upstream?.stop();
      this.startUpstream();
    }
  }

  async stop(): Promise<void> {
    this.withdraw?.();
    this.withdraw = null;
    this.upstream?.stop();
    if (this.loop?.state.phase === "running") this.feed({ type: "stop", now: this.ctx.clock.now() });
    this.loop?.clear();
    this.links?.close();
    this.links = null;
  }

  /** Higher than the one kept by the last start, if any (the caller keeps it before a frame carries it). */
  private newIncarnation(kept: unknown): number {
    const timeBased = Math.floor(this.ctx.clock.wall()) * 1000 + this.ctx.random.int(1000);
    const next = nextIncarnation(timeBased, kept);
    if (next.problem) this.ctx.log.error({ file: this.ctx.state.file, section: STATE_SECTION, problem: next.problem }, "the kept incarnation is not valid; ignored: this start's is from the clock alone");
    return next.incarnation;
  }

  private keep(kept: Kept): void {
    this.kept = kept;
    this.ctx.state.put(STATE_SECTION, kept);
  }

  private others(config: Config): string[] {
    return config.nodes.map((n) => n.name).filter((n) => n !== this.ctx.node.name);
  }

  /** A replay guard that admits no process of a peer older than the newest this node heard, in this run or a kept one. */
  private newGuard(config: Config): ReplayGuard {
    return new ReplayGuard(this.others(config), new Map(Object.entries(this.kept.peers)));
  }

  private apply(config: Config): void {
    this.config = config;
    this.cells = config.raw.heartbeat!.links.map((l) => ({ sent: this.m.sent.cell({ link: l.name }), received: this.m.received.cell({ link: l.name }) }));
    const others = config.nodes.filter((n) => n.name !== this.ctx.node.name);
    this.sources = config.raw.heartbeat!.links.map((l) => new Map(others.map((n) => [linkAddress(l, n), { node: n.name, count: this.m.bySource.cell({ source: n.name }) }])));
    this.unknownSource = this.m.bySource.cell({ source: UNKNOWN_SOURCE });
  }

  private async open(config: Config): Promise<Links> {
    const hb = config.raw.heartbeat!;
    const links = new Links({
      heartbeat: hb,
      nodes: config.nodes,
      self: this.ctx.node,
      clock: this.ctx.clock,
      transport: adaptersOf(this.ctx).datagrams,
      onFrame: (bytes, link, from) => this.receive(bytes, link, from),
      onLinkState: (link, state) => this.ctx.events.emit("heartbeat.socket", { link: hb.links[link]?.name, ...state }),
      onDrop: (_link, reason) => this.m.dropped.inc({ reason }),
    });
    await links.start();
    return links;
  }

  private startUpstream(): void {
    const ping = this.config.raw.heartbeat!.ping;
    if (!ping) {
      this.upstream = null;
      return;
    }
    this.upstream = new Upstream({
      targets: ping.targets,
      intervalMs: parseDuration(ping.interval)!,
      timeoutMs: parseDuration(ping.timeout)!,
      clock: this.ctx.clock,
      onResult: (reachable, total) => this.feed({ type: "upstream", now: this.ctx.clock.now(), reachable, total }),
    });
    this.upstream.start();
  }

  private receive(bytes: Uint8Array, link: number, from: string): void {
    const source = this.sources[link]?.get(from);
    if (!source) {
      this.unknownSource.value++;
      return this.m.dropped.inc({ reason: "unknown-source" });
    }
    source.count.value++;
    const d = decodeFrame(bytes, this.config.keys!, this.config.cluster);
    if (!d.ok) return this.m.dropped.inc({ reason: d.reason });
    const f = d.frame;
    if (f.sender === this.ctx.node.name) return this.m.dropped.inc({ reason: "own" });
    if (f.sender !== source.node) return this.m.dropped.inc({ reason: "wrong-source" });
    if (f.link !== link) return this.m.dropped.inc({ reason: "wrong-link" });
    const message = decodeMessage(f.payload);
    if (!message) return this.m.dropped.inc({ reason: "bad-message" });
    const admitted = this.guard.admit(f);
    if (!admitted.ok) return this.m.dropped.inc({ reason: admitted.reason });
    if (f.incarnation > (this.kept.peers[f.sender] ?? -1)) this.keep({ ...this.kept, peers: { ...this.kept.peers, [f.sender]: f.incarnation } });
    this.cells[link]!.received.value++;
    this.feed({ type: "frame", now: this.ctx.clock.now(), from: f.sender, link, seq: f.seq, incarnation: f.incarnation, restart: admitted.restart, message });
    // Only from the process the engine knows: a frame of a process it has not heard yet is not handed on.
    if (message.kind === "app" && this.state.peers[f.sender]?.incarnation === f.incarnation) {
      const whole = this.reassembly.accept(`${f.sender}/${message.channel}`, f.incarnation, message.data);
      if (whole === "bad") return this.m.dropped.inc({ reason: "bad-fragment" });
      if (whole) for (const listener of this.listeners.get(message.channel) ?? []) listener(f.sender, whole);
    }
  }

  /** The engine's state: the running loop's (`start` makes the loop before anything reads it). */
  private get state(): State {
    return this.loop!.state;
  }

  private feed(input: Input): void {
    this.loop!.feed(input);
  }

  /** Tell the watchers when the peers' statuses or quorum changed with these effects. */
  private tell(effects: readonly Effect[]): void {
    // The deadtime that holds (a larger one a reload shrank, or the last run kept, holds for a while): kept for the next start.
    const deadtimeMs = deadtimeOf(this.state);
    if (deadtimeMs !== this.kept.deadtimeMs) this.keep({ ...this.kept, deadtimeMs });
    // A peer's status and quorum change only with the engine's events about them: most frames change neither.
    if (!effects.some((e) => e.type === "event" && MEMBERSHIP_EVENTS.has(e.event))) return;
    const now = this.membership();
    if (now !== this.told) {
      this.told = now;
      for (const w of this.watchers) w();
    }
  }

  /** Peer statuses, incarnations and quorum in one string: what watchers are told about when it changes. */
  private membership(): string {
    let out = this.state.quorate ? (this.state.majority ? "Q" : "q") : "-";
    for (const name in this.state.peers) {
      const peer = this.state.peers[name]!;
      out += `${name}:${peer.status}:${peer.incarnation};`;
    }
    return out;
  }

  private snapshot(): ClusterSnapshot {
    const s = this.state;
    return {
      self: s.p.self,
      peers: s.p.members.filter((m) => m !== s.p.self).map((name) => {
        const peer = s.peers[name]!;
        return { name, status: MEMBER_STATUS[peer.status]!, incarnation: peer.incarnation };
      }),
      quorate: s.quorate,
      majority: s.majority,
    };
  }

  private bus(): ClusterBus {
    const subscribe = <T>(set: Set<T>, item: T) => {
      set.add(item);
      return () => void set.delete(item);
    };
    return {
      snapshot: () => this.snapshot(),
      watch: (onChange) => subscribe(this.watchers, onChange),
      maxMessageBytes: MAX_APP_MESSAGE_BYTES,
      send: (channel, data) => {
        for (const part of fragment(this.nextAppId++, data, APP_CHUNK_BYTES)) {
          const message: Message = { kind: "app", channel, data: part };
          this.state.p.links.forEach((_, link) => this.perform({ type: "send", link, message }));
        }
      },
      listen: (channel, onMessage) => {
        let set = this.listeners.get(channel);
        if (!set) this.listeners.set(channel, (set = new Set()));
        return subscribe(set, onMessage);
      },
      holdResources: (holds) => {
        if (holds !== this.state.holdsResources) this.feed({ type: "resources", now: this.ctx.clock.now(), holds });
      },
    };
  }

  private perform(e: Effect): void {
    if (e.type === "event") {
      this.ctx.events.emit(e.event, e.data);
      if (e.event === "heartbeat.late") this.m.late.inc({ peer: String(e.data.peer) });
      return;
    }
    const seq = (this.seq[e.link] = (this.seq[e.link] ?? 0) + 1);
    // One message goes out on every link: encode it once.
    if (this.encoded?.message !== e.message) this.encoded = { message: e.message, bytes: encodeMessage(e.message) };
    const bytes = encodeFrame(
      { cluster: this.config.cluster, sender: this.ctx.node.name, incarnation: this.incarnation, link: e.link, seq, payload: this.encoded.bytes },
      this.config.keys!,
      { encrypt: this.config.raw.heartbeat!.encrypt },
    );
    this.links?.send(e.link, "all", bytes);
    this.cells[e.link]!.sent.value++;
  }


  status(): Record<string, unknown> {
    const s = this.state;
    const now = this.ctx.clock.now();
    const peers: Record<string, unknown> = {};
    for (const peer of Object.values(s.peers)) {
      peers[peer.name] = {
        role: peer.role,
        status: peer.status,
        incarnation: peer.incarnation,
        silentMs: peer.lastHeard === null ? null : Math.round(now - peer.lastHeard),
        hearsMe: peer.hearsMe,
        holdsResources: peer.holdsResources,
        upstream: peer.upstream,
        links: Object.fromEntries(
          peer.links.map((l, i) => {
            const name = s.p.links[i]!;
            const expected = l.received + l.lost;
            return [name, { status: l.up ? "up" : "down", received: l.received, lossPct: expected ? Math.round((1000 * l.lost) / expected) / 10 : 0, rttMs: l.rttMs === null ? null : Math.round(l.rttMs * 100) / 100 }];
          }),
        ),
      };
    }
    return {
      role: s.p.role,
      incarnation: this.incarnation,
      sockets: this.links?.status() ?? [],
      quorate: s.quorate,
      upstream: s.upstream,
      yieldToPeer: s.yieldToPeer,
      stalls: s.stalls,
      ...(s.p.role === "arbiter" ? { vote: s.granted?.to ?? null } : { arbiterVote: s.grant !== null }),
      peers,
    };
  }
}
