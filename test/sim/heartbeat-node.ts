/**
 * The heartbeat engine as a node of the simulated world: the shell the daemon
 * is, with the world's clock and network in place of timers and sockets.
 *
 * - The machine's monotonic clock reads virtual time plus a fixed offset (the
 *   same across restarts of the process), so that nodes do not share a clock
 *   and the engine's leases are tested across clocks.
 * - Ticks at `nextDeadline`, re-armed after every step.
 * - A `send` effect goes to every other node on that link as a frame: the
 *   sender's incarnation and a per-link sequence number ahead of the encoded
 *   message (the sim's stand-in for the authenticated envelope).
 * - A received frame passes the message codec and a replay guard: per sender
 *   the highest incarnation heard (a higher one is a restart, a lower one is
 *   dropped), per link a window of recent sequence numbers (a duplicate or a
 *   frame older than the window is dropped).
 * - A clean stop feeds the engine `stop`, performs its goodbyes, then exits.
 * - Other modules' messages go out as app frames on every link (the cluster
 *   bus's `send`), pass the same replay guard and reach the engine (proof of
 *   life for the link), and are handed on only when they come from the
 *   sender's incarnation the engine knows, as in the service.
 *
 * What reached the engine from each sender is kept apart from the engine's
 * state, so that tests can judge the engine against what the world did.
 */
import { initialState, nextDeadline, step, type Effect, type HbParams, type Input, type State } from "../../modules/heartbeat/engine.ts";
import { decodeMessage, encodeMessage, type Message } from "../../modules/heartbeat/messages.ts";
import type { Cancel } from "../../core/time.ts";
import type { NodeContext } from "./world.ts";

/** Sequence numbers remembered per sender and link; an older frame is dropped as a possible replay. */
const REPLAY_WINDOW = 32;

/** The sim frame header: incarnation (u32) and sequence number (u32). */
const HEADER = 8;

/** What reached the engine from one sender, as the shell saw it. */
export interface Heard {
  incarnation: number;
  /** Virtual time of the last frame from it that the engine was given. */
  at: number;
  /** The newest heartbeat's sentAt (the sender's clock), or null if only goodbyes came. */
  sentAt: number | null;
}

export interface StepInfo {
  proc: HbProcess;
  /** Virtual time. */
  at: number;
  input: Input;
  effects: readonly Effect[];
}

export interface HbNodeOptions {
  params: HbParams;
  /** This machine's monotonic clock reads virtual time plus this. */
  clockOffsetMs: number;
  /** Delay from the first boot to the engine's start (a restarted process starts at once). */
  firstStartDelayMs: number;
  holdsResources: boolean;
  /** Called after every step, before its effects are performed. */
  onStep?(info: StepInfo): void;
  /** Called after every step of a running engine, once its effects are performed (the cluster bus's watchers). */
  onSettled?(proc: HbProcess): void;
  /** An app frame's message, after the engine has seen the frame (so it knows the sender's incarnation). */
  onApp?(from: string, channel: number, data: Uint8Array): void;
}

export interface HbProcess {
  readonly name: string;
  readonly incarnation: number;
  readonly state: State;
  /** This machine's monotonic clock. */
  now(): number;
  /** By sender: what reached this process's engine. */
  readonly heard: ReadonlyMap<string, Heard>;
  onMessage(from: string, payload: unknown, link: string): void;
  /** A clean stop: the engine says goodbye, then the process exits. */
  stop(): void;
  /** Another module's message, to every other node on every link. */
  sendApp(channel: number, data: Uint8Array): void;
  /** Whether this node holds resources (the arbiter prefers it in a split). */
  holdResources(holds: boolean): void;
}

interface Window {
  highest: number;
  /** Bit i: sequence number highest - i was seen. */
  seen: number;
}

/** The replay guard of one process. */
class ReplayGuard {
  private senders = new Map<string, { incarnation: number; windows: Map<number, Window> }>();

  /** Whether to give the frame to the engine, and whether it shows a restart; null to drop it. */
  admit(from: string, incarnation: number, link: number, seq: number): { restart: boolean } | null {
    const known = this.senders.get(from);
    if (known && incarnation < known.incarnation) return null;
    if (!known || incarnation > known.incarnation) {
      this.senders.set(from, { incarnation, windows: new Map([[link, { highest: seq, seen: 1 }]]) });
      return { restart: known !== undefined };
    }
    const w = known.windows.get(link);
    if (!w) {
      known.windows.set(link, { highest: seq, seen: 1 });
      return { restart: false };
    }
    if (seq > w.highest) {
      const shift = seq - w.highest;
      w.seen = shift >= REPLAY_WINDOW ? 1 : ((w.seen << shift) | 1) >>> 0;
      w.highest = seq;
      return { restart: false };
    }
    const back = w.highest - seq;
    if (back >= REPLAY_WINDOW) return null;
    const bit = (1 << back) >>> 0;
    if ((w.seen & bit) !== 0) return null;
    w.seen = (w.seen | bit) >>> 0;
    return { restart: false };
  }
}

function encodeFrame(incarnation: number, seq: number, message: Message): Uint8Array {
  const body = encodeMessage(message);
  const frame = new Uint8Array(HEADER + body.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, incarnation);
  view.setUint32(4, seq);
  frame.set(body, HEADER);
  return frame;
}

function decodeFrame(payload: unknown): { incarnation: number; seq: number; message: Message } | null {
  if (!(payload instanceof Uint8Array) || payload.length <= HEADER) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const message = decodeMessage(payload.subarray(HEADER));
  return message ? { incarnation: view.getUint32(0), seq: view.getUint32(4), message } : null;
}

/** Boot one process of a heartbeat node. */
export function heartbeatNode(ctx: NodeContext, o: HbNodeOptions): HbProcess {
  const p = o.params;
  if (p.self !== ctx.name) throw new Error(`params are for ${p.self}, the node is ${ctx.name}`);
  const others = [...p.members, ...(p.arbiter ? [p.arbiter] : [])].filter((n) => n !== p.self);
  const now = () => ctx.clock.now() + o.clockOffsetMs;
  const seqs = p.links.map(() => 0);
  const guard = new ReplayGuard();
  const heard = new Map<string, Heard>();
  let state = initialState(p);
  let tick: Cancel | null = null;

  const send = (link: number, message: Message) => {
    const frame = encodeFrame(ctx.incarnation, ++seqs[link]!, message);
    for (const to of others) ctx.send(to, frame, p.links[link]);
  };

  const feed = (input: Input) => {
    const out = step(state, input);
    state = out.state;
    o.onStep?.({ proc, at: ctx.clock.now(), input, effects: out.effects });
    for (const e of out.effects) {
      if (e.type === "event") {
        ctx.trace(`${e.event} ${JSON.stringify(e.data)}`);
        continue;
      }
      send(e.link, e.message);
    }
    tick?.();
    tick = null;
    if (state.phase === "stopped") return ctx.exit(0);
    const at = nextDeadline(state);
    if (at !== null) tick = ctx.clock.after(at - now(), () => feed({ type: "tick", now: now() }));
    o.onSettled?.(proc);
  };

  const proc: HbProcess = {
    name: ctx.name,
    incarnation: ctx.incarnation,
    get state() {
      return state;
    },
    now,
    heard,
    onMessage(from, payload, linkName) {
      // Not listening before the engine starts, nor after it stops.
      if (state.phase !== "running") return;
      const link = p.links.indexOf(linkName);
      const frame = decodeFrame(payload);
      if (link < 0 || !frame) return ctx.trace(`drop from ${from} on ${linkName}: not a frame`);
      const admitted = guard.admit(from, frame.incarnation, link, frame.seq);
      if (!admitted) return ctx.trace(`drop from ${from} on ${linkName}: inc=${frame.incarnation} seq=${frame.seq} stale or replayed`);
      const sentAt = frame.message.kind === "heartbeat" ? frame.message.sentAt : null;
      const last = heard.get(from);
      const prev = last?.incarnation === frame.incarnation ? last.sentAt : null;
      const newest = prev === null ? sentAt : sentAt === null ? prev : Math.max(prev, sentAt);
      heard.set(from, { incarnation: frame.incarnation, at: ctx.clock.now(), sentAt: newest });
      feed({ type: "frame", now: now(), from, link, seq: frame.seq, incarnation: frame.incarnation, restart: admitted.restart, message: frame.message });
      const known = state.peers[from]?.incarnation === frame.incarnation;
      if (frame.message.kind === "app" && state.phase === "running" && known) o.onApp?.(from, frame.message.channel, frame.message.data);
    },
    stop() {
      feed({ type: "stop", now: now() });
    },
    sendApp(channel, data) {
      const message: Message = { kind: "app", channel, data };
      p.links.forEach((_, link) => send(link, message));
    },
    holdResources(holds) {
      if (holds !== state.holdsResources) feed({ type: "resources", now: now(), holds });
    },
  };

  ctx.clock.after(ctx.incarnation === 1 ? o.firstStartDelayMs : 0, () => {
    feed({ type: "start", now: now() });
    if (o.holdsResources) feed({ type: "resources", now: now(), holds: true });
  });
  return proc;
}
