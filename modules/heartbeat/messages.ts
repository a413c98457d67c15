/**
 * The membership messages carried inside a frame's payload: a heartbeat (the
 * sender's view of every node, echoes for round-trip times, its upstream
 * reachability, whether it holds resources, and from the arbiter its vote) and
 * a goodbye. A small bounded binary encoding; decoding never throws and checks
 * every length before reading.
 */
import { NAME_PATTERN } from "../../core/config/primitives.ts";

export interface ViewEntry {
  node: string;
  /** Whether the sender hears this node and counts it as up. */
  up: boolean;
  /** The sender has not heard this node for warntime: a split may be coming. */
  late: boolean;
  /** How many times the sender has declared this node dead since it started. */
  downs: number;
  /**
   * The incarnation of this node's process the sender hears (absent: none
   * heard). The echo is of that process's heartbeat: a sentAt is a process's
   * monotonic clock, which starts again near 0 in the next one, so the entry
   * speaks only to the process it names.
   */
  incarnation?: number;
  /** Echo of this node's last heartbeat: its sentAt, and how long the sender held it before replying. */
  echo?: { sentAt: number; heldMs: number };
}

export interface Vote {
  /** The member the arbiter votes for. */
  for: string;
  /** The incarnation of the member's process the grant is for: no other process of it may count it. */
  incarnation: number;
  /** The grantee's own sentAt that the grant answers: its lease runs from there. */
  echo: number;
  leaseMs: number;
}

export interface Heartbeat {
  kind: "heartbeat";
  /** Sender's monotonic clock, ms. */
  sentAt: number;
  /** First 8 hex digits of the sender's config hash: peers with another config are reported. */
  config: string;
  holdsResources: boolean;
  /** Upstream (ping) targets the sender reaches, out of how many. */
  upstream?: { reachable: number; total: number };
  view: ViewEntry[];
  vote?: Vote;
  /**
   * The sender's deadtime: it declares a node dead no sooner than that after
   * the node's last heartbeat, so whoever counts its vote leases it for no
   * longer. Absent from a sender that predates the field: the receiver's own
   * deadtime stands in, as before.
   */
  deadtimeMs?: number;
}

export interface Goodbye {
  kind: "goodbye";
}

/** Another module's message riding the heartbeat's links, keys and replay guard (the resources' reports). */
export interface App {
  kind: "app";
  channel: number;
  data: Uint8Array;
}

export type Message = Heartbeat | Goodbye | App;

const KIND = { heartbeat: 1, goodbye: 2, app: 3 } as const;
const F_HOLDS = 1;
const F_UPSTREAM = 2;
const F_VOTE = 4;
const F_DEADTIME = 8;
const E_UP = 1;
const E_ECHO = 2;
const E_LATE = 4;
const E_INCARNATION = 8;
export const MAX_VIEW = 32;
const NAME_RE = new RegExp(NAME_PATTERN);
const CONFIG_RE = /^[0-9a-f]{8}$/;

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: false });

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private at = 0;
  private room(n: number) {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.room(1);
    this.view.setUint8(this.at++, v);
  }
  u16(v: number) {
    this.room(2);
    this.view.setUint16(this.at, v);
    this.at += 2;
  }
  u32(v: number) {
    this.room(4);
    this.view.setUint32(this.at, v);
    this.at += 4;
  }
  f64(v: number) {
    this.room(8);
    this.view.setFloat64(this.at, v);
    this.at += 8;
  }
  bytes(b: Uint8Array) {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  str(s: string) {
    const b = UTF8_ENCODER.encode(s);
    this.u8(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): boolean {
    return this.at + n <= this.buf.length;
  }
  u8(): number | undefined {
    return this.need(1) ? this.view.getUint8(this.at++) : undefined;
  }
  u16(): number | undefined {
    if (!this.need(2)) return undefined;
    const v = this.view.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(): number | undefined {
    if (!this.need(4)) return undefined;
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }
  f64(): number | undefined {
    if (!this.need(8)) return undefined;
    const v = this.view.getFloat64(this.at);
    this.at += 8;
    return Number.isFinite(v) ? v : undefined;
  }
  bytes(n: number): Uint8Array | undefined {
    if (!this.need(n)) return undefined;
    const b = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return b;
  }
  str(): string | undefined {
    const n = this.u8();
    if (n === undefined || !this.need(n)) return undefined;
    const s = UTF8_DECODER.decode(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }
  end(): boolean {
    return this.at === this.buf.length;
  }
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  w.u8(KIND[m.kind]);
  if (m.kind === "goodbye") return w.done();
  if (m.kind === "app") {
    w.u8(m.channel);
    w.u16(m.data.length);
    w.bytes(m.data);
    return w.done();
  }
  w.f64(m.sentAt);
  w.str(m.config);
  w.u8((m.holdsResources ? F_HOLDS : 0) | (m.upstream ? F_UPSTREAM : 0) | (m.vote ? F_VOTE : 0) | (m.deadtimeMs !== undefined ? F_DEADTIME : 0));
  if (m.upstream) {
    w.u8(m.upstream.reachable);
    w.u8(m.upstream.total);
  }
  if (m.vote) {
    w.str(m.vote.for);
    w.f64(m.vote.incarnation);
    w.f64(m.vote.echo);
    w.u32(m.vote.leaseMs);
  }
  // Rounded down: a receiver may lease the sender's vote for less than its deadtime, never for more.
  if (m.deadtimeMs !== undefined) w.u32(Math.min(0xffffffff, Math.max(1, Math.floor(m.deadtimeMs))));
  w.u8(m.view.length);
  for (const e of m.view) {
    w.str(e.node);
    w.u8((e.up ? E_UP : 0) | (e.echo ? E_ECHO : 0) | (e.late ? E_LATE : 0) | (e.incarnation !== undefined ? E_INCARNATION : 0));
    w.u16(Math.min(e.downs, 0xffff));
    if (e.echo) {
      w.f64(e.echo.sentAt);
      w.f64(e.echo.heldMs);
    }
    if (e.incarnation !== undefined) w.f64(e.incarnation);
  }
  return w.done();
}

/** An incarnation as frames carry it (envelope.ts): a whole number below 2^53. */
function isIncarnation(v: number | undefined): v is number {
  return v !== undefined && Number.isSafeInteger(v) && v >= 0;
}

/** The message, or undefined when the bytes are not one (a typed rejection for the caller to count). */
export function decodeMessage(bytes: Uint8Array): Message | undefined {
  const r = new Reader(bytes);
  const kind = r.u8();
  if (kind === KIND.goodbye) return r.end() ? { kind: "goodbye" } : undefined;
  if (kind === KIND.app) {
    const channel = r.u8();
    const n = r.u16();
    const data = n === undefined ? undefined : r.bytes(n);
    return channel !== undefined && data !== undefined && r.end() ? { kind: "app", channel, data } : undefined;
  }
  if (kind !== KIND.heartbeat) return undefined;
  const sentAt = r.f64();
  const config = r.str();
  const flags = r.u8();
  if (sentAt === undefined || config === undefined || !CONFIG_RE.test(config) || flags === undefined || flags > 15) return undefined;
  const m: Heartbeat = { kind: "heartbeat", sentAt, config, holdsResources: (flags & F_HOLDS) !== 0, view: [] };
  if (flags & F_UPSTREAM) {
    const reachable = r.u8();
    const total = r.u8();
    if (reachable === undefined || total === undefined || reachable > total) return undefined;
    m.upstream = { reachable, total };
  }
  if (flags & F_VOTE) {
    const forNode = r.str();
    const incarnation = r.f64();
    const echo = r.f64();
    const leaseMs = r.u32();
    if (forNode === undefined || !NAME_RE.test(forNode) || !isIncarnation(incarnation) || echo === undefined || leaseMs === undefined) return undefined;
    m.vote = { for: forNode, incarnation, echo, leaseMs };
  }
  if (flags & F_DEADTIME) {
    const deadtimeMs = r.u32();
    if (deadtimeMs === undefined || deadtimeMs === 0) return undefined;
    m.deadtimeMs = deadtimeMs;
  }
  const n = r.u8();
  if (n === undefined || n > MAX_VIEW) return undefined;
  for (let i = 0; i < n; i++) {
    const node = r.str();
    const ef = r.u8();
    const downs = r.u16();
    if (node === undefined || !NAME_RE.test(node) || ef === undefined || ef > 15 || downs === undefined) return undefined;
    const e: ViewEntry = { node, up: (ef & E_UP) !== 0, late: (ef & E_LATE) !== 0, downs };
    if (ef & E_ECHO) {
      const s = r.f64();
      const held = r.f64();
      if (s === undefined || held === undefined || held < 0) return undefined;
      e.echo = { sentAt: s, heldMs: held };
    }
    if (ef & E_INCARNATION) {
      const incarnation = r.f64();
      if (!isIncarnation(incarnation)) return undefined;
      e.incarnation = incarnation;
    }
    m.view.push(e);
  }
  return r.end() ? m : undefined;
}
