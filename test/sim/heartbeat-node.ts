/**
 * The heartbeat service of the daemon (modules/heartbeat/service.ts, with its
 * links, envelope, libsodium keys, replay guard and fragments) as a node of
 * the simulated world: its context carries the world's clock, random and
 * network in place of the real ones.
 *
 * - The machine's monotonic clock reads virtual time plus a fixed offset (the
 *   same across restarts of the process), so that nodes do not share a clock
 *   and the engine's leases are tested across clocks.
 * - Each link's socket binds, through a sim DatagramTransport, the node's
 *   address on that link (test/sim/config.ts); a datagram to a peer's address
 *   is a world message on that link, and a world message is handed to the
 *   socket of its link with the sender's address on it.
 * - The engine's steps are observed through the adapters' `steps` (after the
 *   step, before its effects), and its events are trace lines.
 * - A clean stop is the service's stop (goodbye), then the process exits.
 * cluster-node.ts runs the same pieces under the daemon's runtime.
 *
 * What reached the engine from each sender is kept apart from the engine's
 * state, so that tests can judge the engine against what the world did.
 */
import type { DatagramBinding, DatagramTransport, EngineStep } from "../../core/adapters.ts";
import { Services } from "../../core/cluster.ts";
import type { Config } from "../../core/config/load.ts";
import { EventBus } from "../../core/events.ts";
import { createLogger } from "../../core/log.ts";
import { Metrics } from "../../core/metrics.ts";
import type { ModuleContext } from "../../core/module.ts";
import { StateStore } from "../../core/state.ts";
import type { Clock } from "../../core/time.ts";
import { initialState, type Effect, type Input, type State } from "../../modules/heartbeat/engine.ts";
import { HeartbeatService, paramsOf } from "../../modules/heartbeat/service.ts";
import type { NodeContext } from "./world.ts";

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
  config: Config;
  /** This machine's monotonic clock reads virtual time plus this. */
  clockOffsetMs: number;
  /** Delay from the first boot to the service's start (a restarted process starts at once). */
  firstStartDelayMs: number;
  holdsResources: boolean;
  /** Called after every step, before its effects are performed. */
  onStep?(info: StepInfo): void;
}

export interface HbProcess {
  readonly name: string;
  /** The world's count of this node's boots (1, 2, ...). */
  readonly incarnation: number;
  /** The service's incarnation, as its frames carry it and peers' engines know it; throws before the start. */
  readonly wireIncarnation: number;
  readonly state: State;
  /** This machine's monotonic clock. */
  now(): number;
  /** By sender: what reached this process's engine. */
  readonly heard: ReadonlyMap<string, Heard>;
  onMessage(from: string, payload: unknown, link: string): void;
  /** A clean stop: the service says goodbye, then the process exits. */
  stop(): void;
}

/** The world's network as UDP: a socket per (node, link address); datagrams are world messages on the link. */
export class SimDatagrams implements DatagramTransport {
  private readonly bound = new Map<string, DatagramBinding>();
  /** Address to (node, link). */
  private readonly book = new Map<string, { node: string; link: string }>();
  /** (node, link) to address. */
  private readonly addresses = new Map<string, string>();

  constructor(
    private readonly ctx: NodeContext,
    config: Config,
  ) {
    for (const link of config.raw.heartbeat!.links) {
      for (const n of config.nodes) {
        const address = link.addresses?.[n.name] ?? n.address;
        this.book.set(address, { node: n.name, link: link.name });
        this.addresses.set(`${n.name}/${link.name}`, address);
      }
    }
  }

  bind(b: DatagramBinding) {
    if (this.bound.has(b.address)) return Promise.reject(new Error(`${b.address}:${b.port} is in use`));
    if (this.book.get(b.address)?.node !== this.ctx.name) return Promise.reject(new Error(`${b.address} is not an address of ${this.ctx.name}`));
    this.bound.set(b.address, b);
    return Promise.resolve({
      send: (bytes: Uint8Array, _port: number, address: string) => {
        const to = this.book.get(address);
        if (!to) throw new Error(`no route to ${address}`);
        this.ctx.send(to.node, bytes, to.link);
        return true;
      },
      close: () => void this.bound.delete(b.address),
    });
  }

  interfaces() {
    return {};
  }

  /** A world message: to the socket bound to this node's address on the link, from the sender's address there. */
  deliver(from: string, payload: unknown, link: string): boolean {
    const socket = this.bound.get(this.addresses.get(`${this.ctx.name}/${link}`) ?? "");
    if (!socket || !(payload instanceof Uint8Array)) return false;
    socket.onData(payload, this.addresses.get(`${from}/${link}`) ?? "");
    return true;
  }
}

export const silent = createLogger({ level: "fatal", write: () => undefined });

/** This machine's monotonic clock: virtual time plus its own offset; the wall clock and timers are the world's. */
export const machineClock = (ctx: NodeContext, offsetMs: number): Clock => ({ now: () => ctx.clock.now() + offsetMs, wall: () => ctx.clock.wall(), after: (ms, fn) => ctx.clock.after(ms, fn) });

/** Keeps, by sender, what reached the heartbeat engine (from its steps), apart from the engine. */
export function hearing(ctx: NodeContext): { heard: Map<string, Heard>; observe(input: Input): void } {
  const heard = new Map<string, Heard>();
  return {
    heard,
    observe(input) {
      if (input.type !== "frame") return;
      const sentAt = input.message.kind === "heartbeat" ? input.message.sentAt : null;
      const last = heard.get(input.from);
      const prev = last?.incarnation === input.incarnation ? last.sentAt : null;
      const newest = prev === null ? sentAt : sentAt === null ? prev : Math.max(prev, sentAt);
      heard.set(input.from, { incarnation: input.incarnation, at: ctx.clock.now(), sentAt: newest });
    },
  };
}

/** Boot one process of a heartbeat node. */
export function heartbeatNode(ctx: NodeContext, o: HbNodeOptions): HbProcess {
  const node = o.config.nodes.find((n) => n.name === ctx.name);
  if (!node) throw new Error(`the config has no node ${ctx.name}`);
  const clock = machineClock(ctx, o.clockOffsetMs);
  const datagrams = new SimDatagrams(ctx, o.config);
  const { heard, observe: hear } = hearing(ctx);
  const events = new EventBus(ctx.name, clock.wall);
  events.subscribe((e) => ctx.trace(`${e.type} ${JSON.stringify(e.data)}`));
  const metrics = new Metrics();
  const services = new Services();
  /** The engine's state as its last step left it; before the start, the state it starts from. */
  let state: State = initialState(paramsOf(o.config, ctx.name));
  let wire: number | undefined;

  const observe = (s: EngineStep) => {
    const input = s.input as Input;
    state = s.state as State;
    hear(input);
    // The links guard the frame handler (a throw there is counted and dropped): a violation goes to the world instead.
    try {
      o.onStep?.({ proc, at: ctx.clock.now(), input, effects: s.effects as readonly Effect[] });
    } catch (e) {
      ctx.report(e);
    }
  };

  const mctx: ModuleContext = {
    node,
    clock,
    random: ctx.random,
    log: silent,
    events,
    metrics,
    runtime: { status: () => ({}), reload: () => Promise.resolve({ result: "unchanged", config: o.config.hash }), routes: () => [] },
    services,
    state: new StateStore({ dir: undefined, cluster: o.config.cluster, node: ctx.name, log: silent, clock, events, metrics }),
    adapters: { datagrams, steps: (_module, s) => observe(s) },
  };
  const service = new HeartbeatService(mctx);

  const proc: HbProcess = {
    name: ctx.name,
    incarnation: ctx.incarnation,
    get wireIncarnation() {
      wire ??= service.status().incarnation as number;
      return wire;
    },
    get state() {
      return state;
    },
    now: clock.now,
    heard,
    onMessage(from, payload, link) {
      if (!datagrams.deliver(from, payload, link)) ctx.trace(`drop from ${from} on ${link}: no socket`);
    },
    stop() {
      ctx.pending(service.stop().then(() => ctx.exit(0)));
    },
  };

  const start = async () => {
    await service.start(o.config);
    if (o.holdsResources) services.get("cluster")!.holdResources(true);
  };
  ctx.clock.after(ctx.incarnation === 1 ? o.firstStartDelayMs : 0, () => ctx.pending(start()));
  return proc;
}
