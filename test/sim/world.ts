/**
 * The simulated world: nodes, a network of named links between them, faults,
 * and a trace, all on virtual time and all driven by one seed.
 *
 * A node is whatever `boot(ctx)` returns: its code reaches the world only
 * through `ctx` (clock, random, send, trace, exit), so the same code that runs
 * in the daemon runs here. Crash, restart, freeze and partitions are done to
 * it from outside. Every notable happening becomes one trace line; the same
 * seed gives the same trace.
 */
import { seededRandom, type Random } from "../../core/random.ts";
import type { Cancel, Clock } from "../../core/time.ts";
import { SimClock } from "./clock.ts";
import { deriveSeed } from "./seeds.ts";

/** Parameters of one direction of one link. */
export interface LinkParams {
  /** Base one-way delay. */
  delayMs: number;
  /** Uniform extra delay in [0, jitterMs). */
  jitterMs: number;
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicate: number;
  /** Probability that a message is held back by up to `reorderMs` more, so that later ones overtake it. */
  reorder: number;
  reorderMs: number;
}

export const DEFAULT_LINK: Readonly<LinkParams> = { delayMs: 1, jitterMs: 0, loss: 0, duplicate: 0, reorder: 0, reorderMs: 10 };

export type DropReason = "loss" | "cut" | "partition" | "down" | "crash";

export interface Counters {
  sent: number;
  /** Extra copies made by duplication. */
  duplicated: number;
  delivered: number;
  dropped: number;
  drops: Record<DropReason, number>;
}

const newCounters = (): Counters => ({
  sent: 0,
  duplicated: 0,
  delivered: 0,
  dropped: 0,
  drops: { loss: 0, cut: 0, partition: 0, down: 0, crash: 0 },
});

/** What a node's code may use of the world. */
export interface NodeContext {
  readonly name: string;
  /** 1 at the first boot, one more at every restart. */
  readonly incarnation: number;
  /** Virtual time; the node's timers die with it. */
  readonly clock: Clock;
  /** This boot's own stream, derived from the world seed, the node name and the incarnation. */
  readonly random: Random;
  /** Send `payload` to `to` over the named link ("default" if none). */
  send(to: string, payload: unknown, link?: string): void;
  /** Add a line to the world trace, prefixed with the node name. */
  trace(line: string): void;
  /** The process ends by itself: like a crash, but recorded as an exit with `code`. */
  exit(code: number): void;
  /**
   * Work of the node's code that goes on in promises (a module's start or
   * stop): `runUntilSettled` lets their continuations run at the virtual
   * instant they were begun, before the next timer. A rejection fails the run.
   */
  pending(work: Promise<unknown>): void;
  /** An error the node's code caught where it cannot be thrown to the world (a handler guarded by the shell): the run fails with it. */
  report(error: unknown): void;
}

/** A node's code may be any object; if it has `onMessage`, that receives what other nodes sent it. */
export interface NodeHandler {
  onMessage?(from: string, payload: unknown, link: string): void;
}

/** What a boot function may return: any object, and `onMessage` only with the right shape. */
export type Handler = object & NodeHandler;

export type Boot<H extends Handler> = (ctx: NodeContext) => H;

function checkParams(p: Partial<LinkParams>): Partial<LinkParams> {
  for (const k of ["loss", "duplicate", "reorder"] as const) {
    const v = p[k];
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new Error(`link ${k} must be in [0, 1], got ${v}`);
  }
  for (const k of ["delayMs", "jitterMs", "reorderMs"] as const) {
    const v = p[k];
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) throw new Error(`link ${k} must be a finite number >= 0, got ${v}`);
  }
  return p;
}

const pairKey = (from: string, to: string) => `${from}>${to}`;

/** One named link (a LAN, a crossover cable, a serial line) between every pair of nodes. */
export class Link {
  readonly stats = newCounters();
  readonly random: Random;
  private base: LinkParams = { ...DEFAULT_LINK };
  private pairs = new Map<string, Partial<LinkParams>>();
  private cuts = new Set<string>();
  private isDown = false;

  constructor(
    readonly name: string,
    seed: number,
    private readonly note: (line: string) => void,
  ) {
    this.random = seededRandom(deriveSeed(seed, `link:${name}`));
  }

  /** Set parameters for every direction that has no parameters of its own. */
  configure(p: Partial<LinkParams>): this {
    this.base = { ...this.base, ...checkParams(p) };
    return this;
  }

  /** Set parameters for the direction from -> to only (over the link-wide ones). */
  configurePair(from: string, to: string, p: Partial<LinkParams>): this {
    const key = pairKey(from, to);
    this.pairs.set(key, { ...this.pairs.get(key), ...checkParams(p) });
    return this;
  }

  params(from: string, to: string): LinkParams {
    return { ...this.base, ...this.pairs.get(pairKey(from, to)) };
  }

  /** Cut this link between a and b, both directions. */
  cut(a: string, b: string): void {
    this.cuts.add(pairKey(a, b));
    this.cuts.add(pairKey(b, a));
    this.note(`cut ${this.name} ${a}<>${b}`);
  }

  /** Cut this link from -> to only (the other direction still works). */
  cutOneWay(from: string, to: string): void {
    this.cuts.add(pairKey(from, to));
    this.note(`cut ${this.name} ${from}>${to}`);
  }

  /** Undo `cut` or `cutOneWay` between a and b, both directions. */
  restore(a: string, b: string): void {
    this.cuts.delete(pairKey(a, b));
    this.cuts.delete(pairKey(b, a));
    this.note(`restore ${this.name} ${a}<>${b}`);
  }

  /** Take the whole link down (every pair) until `up()`. */
  down(): void {
    this.isDown = true;
    this.note(`down ${this.name}`);
  }

  up(): void {
    this.isDown = false;
    this.note(`up ${this.name}`);
  }

  isCut(from: string, to: string): boolean {
    return this.isDown || this.cuts.has(pairKey(from, to));
  }

  /** The delay of one copy of a message; always draws the same number of values. */
  sampleDelay(p: LinkParams): number {
    const jitter = this.random.next() * p.jitterMs;
    const held = this.random.chance(p.reorder);
    const extra = this.random.next() * p.reorderMs;
    return p.delayMs + jitter + (held ? extra : 0);
  }
}

/** The links and the partitions between groups of nodes. */
export class Network {
  readonly stats = newCounters();
  private links = new Map<string, Link>();
  private partitions: Array<[ReadonlySet<string>, ReadonlySet<string>]> = [];

  constructor(
    private readonly seed: number,
    private readonly note: (line: string) => void,
    private readonly known: (name: string) => boolean,
  ) {}

  /** The link called `name`, made on first use with the default parameters. */
  link(name = "default"): Link {
    let l = this.links.get(name);
    if (!l) this.links.set(name, (l = new Link(name, this.seed, this.note)));
    return l;
  }

  /** Cut every link, both directions, between each node of `a` and each node of `b`. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const n of [...a, ...b]) if (!this.known(n)) throw new Error(`partition: no node called ${n}`);
    const sa = new Set(a);
    if (b.some((n) => sa.has(n))) throw new Error(`partition: a node cannot be on both sides`);
    this.partitions.push([sa, new Set(b)]);
    this.note(`partition ${a.join(",")}|${b.join(",")}`);
  }

  /** Remove every partition (link cuts stay until restored). */
  heal(): void {
    this.partitions = [];
    this.note("heal");
  }

  /** Why a message from -> to over `link` cannot pass now, if it cannot. */
  blocked(from: string, to: string, link: Link): DropReason | null {
    if (link.isCut(from, to)) return "cut";
    for (const [a, b] of this.partitions) {
      if ((a.has(from) && b.has(to)) || (b.has(from) && a.has(to))) return "partition";
    }
    return null;
  }
}

interface Message {
  id: number;
  from: string;
  to: string;
  link: Link;
  payload: unknown;
  cancel: Cancel | null;
}

interface Held {
  fire: () => void;
  message: Message | null;
}

interface NodeRecord<H extends Handler> {
  name: string;
  boot: Boot<H>;
  incarnation: number;
  up: boolean;
  frozen: boolean;
  handler: H | null;
  held: Held[];
  inflight: Set<Message>;
  thaw: Cancel | null;
  exitCode: number | null;
}

/** A node as the test sees it. */
export class SimNode<H extends Handler> {
  constructor(
    private readonly rec: NodeRecord<H>,
    private readonly world: World,
  ) {}

  get name(): string {
    return this.rec.name;
  }
  get up(): boolean {
    return this.rec.up;
  }
  get frozen(): boolean {
    return this.rec.frozen;
  }
  get incarnation(): number {
    return this.rec.incarnation;
  }
  /** The code passed to `ctx.exit` by the last boot, if it exited by itself. */
  get exitCode(): number | null {
    return this.rec.exitCode;
  }
  /** The running boot's handler; throws if the node is down. */
  get handler(): H {
    if (!this.rec.handler) throw new Error(`node ${this.rec.name} is down`);
    return this.rec.handler;
  }

  /**
   * Something from outside the node's code (an operator's signal, a local
   * command) reaches it: `fn` runs against the handler now, later if the node
   * is frozen, or not at all if it is down. Returns false if it was down.
   */
  signal(what: string, fn: (handler: H) => void): boolean {
    return this.world.signalNode(this.rec, what, fn);
  }
}

/** Trace lines kept at most per world; a run that needs more is a runaway. */
export const MAX_TRACE_LINES = 1_000_000;

export interface WorldOptions {
  seed: number;
  /** How a payload is shown in the trace (default: a short rendering of its value). */
  describe?: (payload: unknown) => string;
}

function describeDefault(payload: unknown): string {
  if (payload instanceof Uint8Array) return `${payload.length}B`;
  const text = typeof payload === "string" ? payload : (JSON.stringify(payload) ?? String(payload));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const formatTime = (t: number) => (Number.isInteger(t) ? String(t) : t.toFixed(3));

export class World {
  readonly seed: number;
  readonly clock = new SimClock();
  /** The scenario's own stream (for choosing faults and schedules). */
  readonly random: Random;
  readonly network: Network;
  readonly trace: string[] = [];
  private readonly describe: (payload: unknown) => string;
  private readonly nodes = new Map<string, NodeRecord<Handler>>();
  private nextMessage = 1;
  /** Promises of the nodes' code not yet settled (ctx.pending). */
  private unsettled = 0;
  private failure: { error: unknown } | null = null;

  constructor(opts: WorldOptions) {
    this.seed = opts.seed;
    this.random = seededRandom(deriveSeed(opts.seed, "world"));
    this.describe = opts.describe ?? describeDefault;
    this.network = new Network(opts.seed, (l) => this.note(l), (n) => this.nodes.has(n));
  }

  /** Add a line to the trace, stamped with the virtual time. */
  note(line: string): void {
    if (this.trace.length >= MAX_TRACE_LINES) throw new Error(`trace passed ${MAX_TRACE_LINES} lines: a runaway scenario`);
    this.trace.push(`${formatTime(this.clock.now())} ${line}`);
  }

  now(): number {
    return this.clock.now();
  }

  runUntil(time: number): void {
    this.clock.runUntil(time);
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * As runUntil, for nodes whose code works in promises (ctx.pending): after
   * each timer, while such work is under way, the promise continuations run
   * (one macrotask turn drains them) before the next timer fires, so they
   * happen at the virtual instant they were begun. Work that waits on a later
   * timer just stays pending. Throws what a node reported or a pending work rejected with.
   */
  async runUntilSettled(time: number): Promise<void> {
    if (!(time >= this.clock.now())) throw new Error(`runUntilSettled(${time}): time is ${this.clock.now()} and never goes back`);
    await this.settle();
    // Awaited only when there is something to settle: an await per timer would cost more than the timer.
    while (this.clock.fireNext(time)) if (this.unsettled > 0 || this.failure) await this.settle();
    this.clock.runUntil(time);
  }

  private async settle(): Promise<void> {
    if (this.unsettled > 0) await new Promise((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure.error;
  }

  /** Add a node and boot it now. */
  addNode<H extends Handler>(name: string, boot: Boot<H>): SimNode<H> {
    if (this.nodes.has(name)) throw new Error(`a node called ${name} exists already`);
    const rec: NodeRecord<H> = { name, boot, incarnation: 0, up: false, frozen: false, handler: null, held: [], inflight: new Set(), thaw: null, exitCode: null };
    this.nodes.set(name, rec);
    this.start(rec);
    return new SimNode(rec, this);
  }

  isUp(name: string): boolean {
    return this.rec(name).up;
  }

  /** The node dies: its timers are cancelled, messages in flight to it and held for it are lost. */
  crash(name: string): void {
    const rec = this.rec(name);
    if (!rec.up) throw new Error(`crash: node ${name} is already down`);
    this.halt(rec, `crash ${name}`);
  }

  /** Boot a node that is down again, with a new incarnation. */
  restart(name: string): void {
    const rec = this.rec(name);
    if (rec.up) throw new Error(`restart: node ${name} is up`);
    this.start(rec);
  }

  /** Stop the node (SIGSTOP): its timers and deliveries wait, and run late at thaw; for `ms` if given, else until `thaw`. */
  freeze(name: string, ms?: number): void {
    const rec = this.rec(name);
    if (!rec.up) throw new Error(`freeze: node ${name} is down`);
    if (rec.frozen) throw new Error(`freeze: node ${name} is frozen already`);
    rec.frozen = true;
    this.note(`freeze ${name}`);
    if (ms !== undefined) rec.thaw = this.clock.after(ms, () => this.thaw(name));
  }

  /** Let a frozen node run again (SIGCONT): what it missed runs now, in the order it was due. */
  thaw(name: string): void {
    const rec = this.rec(name);
    if (!rec.frozen) throw new Error(`thaw: node ${name} is not frozen`);
    rec.frozen = false;
    rec.thaw?.();
    rec.thaw = null;
    this.note(`thaw ${name} held=${rec.held.length}`);
    while (rec.held.length > 0 && rec.up && !rec.frozen) rec.held.shift()!.fire();
  }

  /** @internal: used by SimNode.signal. */
  signalNode<H extends Handler>(rec: NodeRecord<H>, what: string, fn: (handler: H) => void): boolean {
    if (!rec.up) {
      this.note(`signal ${rec.name} ${what} lost: down`);
      return false;
    }
    this.note(`signal ${rec.name} ${what}`);
    this.runOn(rec, () => fn(rec.handler!), null);
    return true;
  }

  private rec(name: string): NodeRecord<Handler> {
    const rec = this.nodes.get(name);
    if (!rec) throw new Error(`no node called ${name}`);
    return rec;
  }

  private start<H extends Handler>(rec: NodeRecord<H>): void {
    rec.incarnation++;
    rec.up = true;
    rec.exitCode = null;
    this.note(`boot ${rec.name} inc=${rec.incarnation}`);
    rec.handler = rec.boot(this.context(rec));
  }

  private context<H extends Handler>(rec: NodeRecord<H>): NodeContext {
    const inc = rec.incarnation;
    const owner = `${rec.name}#${inc}`;
    const timers = this.clock.owned(owner);
    const alive = (what: string) => {
      if (!rec.up || rec.incarnation !== inc) throw new Error(`${rec.name} (incarnation ${inc}) is not running: cannot ${what}`);
    };
    return {
      name: rec.name,
      incarnation: inc,
      random: seededRandom(deriveSeed(this.seed, `node:${rec.name}#${inc}`)),
      clock: {
        now: () => timers.now(),
        wall: () => timers.wall(),
        after: (ms, fn) => {
          alive("set a timer");
          return timers.after(ms, () => this.runOn(rec, fn, null, `timer ${rec.name}`));
        },
      },
      send: (to, payload, link) => {
        alive("send");
        this.send(rec.name, to, payload, this.network.link(link));
      },
      trace: (line) => {
        alive("trace");
        this.note(`${rec.name}: ${line}`);
      },
      exit: (code) => {
        alive("exit");
        rec.exitCode = code;
        this.halt(rec, `exit ${rec.name} code=${code}`);
      },
      pending: (work) => {
        this.unsettled++;
        work.then(
          () => this.unsettled--,
          (error: unknown) => {
            this.unsettled--;
            this.failure ??= { error };
          },
        );
      },
      report: (error) => {
        this.failure ??= { error };
      },
    };
  }

  /** Run `fn` as the node: now, or held while it is frozen. */
  private runOn<H extends Handler>(rec: NodeRecord<H>, fn: () => void, message: Message | null, line?: string): void {
    const fire = () => {
      if (line !== undefined) this.note(line);
      fn();
    };
    if (rec.frozen) rec.held.push({ fire, message });
    else fire();
  }

  private halt<H extends Handler>(rec: NodeRecord<H>, line: string): void {
    this.note(line);
    rec.up = false;
    rec.frozen = false;
    rec.handler = null;
    rec.thaw?.();
    rec.thaw = null;
    this.clock.cancelOwned(`${rec.name}#${rec.incarnation}`);
    for (const m of rec.inflight) {
      m.cancel?.();
      this.drop(m, "crash");
    }
    rec.inflight.clear();
    for (const h of rec.held) if (h.message) this.drop(h.message, "crash");
    rec.held = [];
  }

  private send(from: string, to: string, payload: unknown, link: Link): void {
    const dest = this.rec(to);
    const id = this.nextMessage++;
    const msg = (): Message => ({ id, from, to, link, payload: payload instanceof Uint8Array ? payload.slice() : payload, cancel: null });
    this.network.stats.sent++;
    link.stats.sent++;
    this.note(`send ${from}>${to} ${link.name} #${id} ${this.describe(payload)}`);
    const p = link.params(from, to);
    const lost = link.random.chance(p.loss);
    const twice = link.random.chance(p.duplicate);
    const delays = [link.sampleDelay(p), link.sampleDelay(p)] as const;
    const blocked = this.network.blocked(from, to, link);
    if (blocked) return this.drop(msg(), blocked);
    if (lost) return this.drop(msg(), "loss");
    this.launch(dest, msg(), delays[0]);
    if (twice) {
      this.network.stats.duplicated++;
      link.stats.duplicated++;
      this.note(`dup #${id}`);
      this.launch(dest, msg(), delays[1]);
    }
  }

  private launch(dest: NodeRecord<Handler>, m: Message, delay: number): void {
    dest.inflight.add(m);
    m.cancel = this.clock.after(delay, () => {
      dest.inflight.delete(m);
      if (!dest.up) return this.drop(m, "down");
      const blocked = this.network.blocked(m.from, m.to, m.link);
      if (blocked) return this.drop(m, blocked);
      this.runOn(dest, () => this.deliver(dest, m), m);
    });
  }

  private deliver(dest: NodeRecord<Handler>, m: Message): void {
    this.network.stats.delivered++;
    m.link.stats.delivered++;
    this.note(`deliver ${m.from}>${m.to} ${m.link.name} #${m.id}`);
    dest.handler!.onMessage?.(m.from, m.payload, m.link.name);
  }

  private drop(m: Message, reason: DropReason): void {
    for (const c of [this.network.stats, m.link.stats]) {
      c.dropped++;
      c.drops[reason]++;
    }
    this.note(`drop ${m.from}>${m.to} ${m.link.name} #${m.id} ${reason}`);
  }
}
