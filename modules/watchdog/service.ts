/**
 * The watchdog's shell: opens the device at start (which arms it) and sets
 * its timeout, then at each of the engine's ticks reads whether the node has
 * quorum (the heartbeat's cluster bus) and holds exclusive resources (the
 * resource manager's "resources" service), and pets or withholds as the
 * engine says. It runs on the control thread: a frozen or starved control
 * plane stops the pets.
 */
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import { EngineLoop } from "../../core/engine-loop.ts";
import { adaptersOf } from "../../core/adapters.ts";
import { initialState, nextDeadline, step, type Effect, type Holding, type Input, type State, type WatchdogParams } from "./engine.ts";
import { openWatchdog, type OpenWatchdog, type WatchdogDevice } from "./device.ts";
import { watchdogTimeoutMs } from "./config.ts";

declare module "../../core/adapters.ts" {
  interface Adapters {
    /** How the watchdog module opens its device (modules/watchdog/device.ts); the kernel's when absent. */
    watchdog?: OpenWatchdog;
  }
}

/** What the watchdog offers the other modules: the timeout it is armed with. */
export interface WatchdogService {
  timeoutMs(): number;
}

export function paramsOf(config: Config): WatchdogParams {
  const w = config.raw.watchdog!;
  return { device: w.device, timeoutMs: watchdogTimeoutMs(w) };
}

export class WatchdogModule implements ModuleInstance {
  private loop!: EngineLoop<State, Input, Effect>;
  private device: WatchdogDevice | null = null;
  private withdraw: () => void = () => undefined;

  constructor(private readonly ctx: ModuleContext) {}

  async start(config: Config): Promise<void> {
    const p = paramsOf(config);
    const device = (adaptersOf(this.ctx).watchdog ?? openWatchdog)(p.device);
    let timeoutS: number;
    try {
      timeoutS = device.setTimeout(p.timeoutMs / 1000);
    } catch (err) {
      device.close(true);
      throw err;
    }
    this.device = device;
    this.loop = new EngineLoop(this.ctx.clock, initialState(p), {
      step,
      nextDeadline,
      tick: () => ({ type: "tick", now: this.ctx.clock.now(), ...this.holding() }),
      perform: (e) => this.perform(e),
    });
    this.loop.feed({ type: "armed", now: this.ctx.clock.now(), timeoutMs: timeoutS * 1000 });
    this.withdraw = this.ctx.services.provide("watchdog", { timeoutMs: () => this.loop.state.timeoutMs });
  }

  async reload(config: Config): Promise<void> {
    const p = paramsOf(config);
    if (p.device !== this.loop.state.p.device) throw new Error(`the watchdog device cannot change on a reload (running ${this.loop.state.p.device}, the config says ${p.device}); restart the node instead`);
    const timeoutS = this.device!.setTimeout(p.timeoutMs / 1000);
    this.loop.feed({ type: "armed", now: this.ctx.clock.now(), timeoutMs: timeoutS * 1000 });
  }

  async stop(): Promise<void> {
    this.withdraw();
    this.loop.feed({ type: "stop", now: this.ctx.clock.now() });
    this.loop.clear();
  }

  status(): Record<string, unknown> {
    const s = this.loop.state;
    return { device: s.p.device, phase: s.phase, timeoutMs: s.timeoutMs, withheld: s.withheld, sinceLastPetMs: s.lastPetAt === null ? null : Math.round(this.ctx.clock.now() - s.lastPetAt) };
  }

  /** Quorum from the cluster bus (a node without a heartbeat is alone and holds its own quorum), holding from the resource manager. */
  private holding(): Holding {
    const bus = this.ctx.services.get("cluster");
    return { quorate: bus ? bus.snapshot().quorate : true, holdsExclusive: this.ctx.services.get("resources")?.holdsExclusive() ?? false };
  }

  private perform(e: Effect): void {
    switch (e.type) {
      case "pet":
        this.device!.pet();
        return;
      case "close":
        this.device!.close(e.magic);
        this.device = null;
        return;
      case "event":
        this.ctx.events.emit(e.event, e.data);
        return;
    }
  }
}
