/**
 * A node of a replicated volume in the world: the volume engine
 * (modules/replication/engine.ts) with a simulated disk and the peer link as
 * world messages. The machine (its disk's data and its metadata) outlives
 * the process: a crash loses the timers, the queued disk operations and the
 * frames in flight, and tears the write under way (some of its blocks reach
 * the disk, the others not). The disk runs one operation at a time, in the
 * order issued, each taking a drawn time; metadata writes are atomic and
 * durable at once (a journaled file). The link is a session the scenario
 * opens and closes (a TCP connection): frames of an older session are
 * dropped, so a frame lost to a cut is followed by the link's drop.
 */
import type { NodeContext } from "./world.ts";
import { joinPayload } from "../../modules/replication/payload.ts";
import { initialState, step, type Effect, type Input, type Meta, type PeerMessage, type State, type VolumeEvent, type VolumeParams } from "../../modules/replication/engine.ts";

export interface Machine {
  name: string;
  data: Uint8Array;
  meta: Meta;
}

export interface Observer {
  reply(node: string, e: Extract<Effect, { kind: "reply" }>): void;
  event(node: string, e: VolumeEvent, s: State): void;
  /** The engine closed the link (it stands alone). */
  dropLink(node: string): void;
}

interface DiskOp {
  effect: Extract<Effect, { kind: "disk-write" | "disk-flush" | "disk-read" | "disk-digest" }>;
}

export interface LinkPayload {
  session: number;
  msg: PeerMessage;
}

const copyMeta = (m: Meta): Meta => ({ ...m, gen: { ...m.gen, history: [...m.gen.history] }, bitmap: m.bitmap.slice() });

export class VolumeNode {
  readonly engine: State;
  session = 0;
  private queue: DiskOp[] = [];
  private busy: DiskOp | null = null;

  constructor(
    private readonly ctx: NodeContext,
    readonly machine: Machine,
    params: VolumeParams,
    private readonly outside: Observer,
    private readonly diskMs: [number, number],
    readonly blockBytes: number,
  ) {
    this.engine = initialState(params, copyMeta(machine.meta));
  }

  input(i: Input): void {
    const { effects } = step(this.engine, i);
    for (const e of effects) this.perform(e);
  }

  /** A fresh generation identifier. */
  fresh(): number {
    return 1 + this.ctx.random.int(2 ** 31);
  }

  linkUp(session: number): void {
    this.session = session;
    this.input({ type: "link-up", fresh: this.fresh() });
  }

  linkDown(): void {
    this.session = 0;
    this.input({ type: "link-down", fresh: this.fresh() });
  }

  onMessage(_from: string, payload: unknown): void {
    const p = payload as LinkPayload;
    if (p.session !== this.session || this.session === 0) return;
    this.input({ type: "frame", msg: p.msg });
  }

  /** At a crash: the write under way reaches the disk block by block, some blocks yes, some no. */
  tear(chance: (p: number) => boolean): number {
    const op = this.busy?.effect;
    if (op?.kind !== "disk-write") return 0;
    let torn = 0;
    const data = joinPayload(op.data);
    for (let at = 0; at < data.length; at += this.blockBytes)
      if (chance(0.5)) {
        this.machine.data.set(data.subarray(at, at + this.blockBytes), op.offset + at);
        torn++;
      }
    return torn;
  }

  private perform(e: Effect): void {
    switch (e.kind) {
      case "meta":
        this.machine.meta = copyMeta(e.meta);
        return;
      case "disk-write":
      case "disk-flush":
      case "disk-read":
      case "disk-digest":
        this.queue.push({ effect: e });
        this.startDisk();
        return;
      case "send":
        if (this.session !== 0) this.ctx.send(this.engine.p.peer, { session: this.session, msg: e.msg } satisfies LinkPayload);
        return;
      case "drop-link":
        this.outside.dropLink(this.ctx.name);
        return;
      case "reply":
        this.outside.reply(this.ctx.name, e);
        return;
      case "event":
        this.ctx.trace(`event ${JSON.stringify(e.event)}`);
        this.outside.event(this.ctx.name, e.event, this.engine);
        return;
    }
  }

  private startDisk(): void {
    if (this.busy || this.queue.length === 0) return;
    const op = this.queue.shift()!;
    this.busy = op;
    const [lo, hi] = this.diskMs;
    this.ctx.clock.after(this.ctx.random.between(lo, hi), () => {
      this.busy = null;
      const e = op.effect;
      if (e.kind === "disk-write") {
        this.machine.data.set(joinPayload(e.data), e.offset);
        this.input({ type: "disk-written", origin: e.origin, ref: e.ref });
      } else if (e.kind === "disk-flush") this.input({ type: "disk-flushed", origin: e.origin, ref: e.ref });
      else if (e.kind === "disk-digest") this.input({ type: "digest", origin: e.origin, region: e.region, digest: this.machine.data.slice(e.offset, e.offset + e.length) });
      else this.input({ type: "resync-read", region: e.region, data: this.machine.data.slice(e.offset, e.offset + e.length) });
      this.startDisk();
    });
  }
}
