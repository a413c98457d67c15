/**
 * A whole node of the cluster as a node of the simulated world: the daemon's
 * runtime (core/runtime/runtime.ts) with the heartbeat and resources module
 * descriptors, so the real HeartbeatService and the real ResourcesService
 * (its executor, its fencing, its wire codec on the cluster bus) run as the
 * daemon runs them. Its context carries the world's clock, random and network
 * (heartbeat-node.ts), and its agents and fence devices come through the
 * adapters' `agents` (modules/resources/adapters.ts): each action is handed
 * to the scenario (`Outside`), which keeps the machine's truth and answers on
 * virtual time; an answer reaches the process that asked, if it still runs.
 * With [watchdog], the real watchdog module runs too, on the machine's
 * watchdog device that the scenario keeps (`Outside.watchdog`), and a
 * `watchdog` fence device is the real one, waiting on the machine's clock.
 *
 * - The config is a real config text; a reload (`reload()`) is the runtime's:
 *   it reads the node's current text through the runtime's ConfigSource.
 * - Both engines' steps are observed through the adapters' `steps` (after the
 *   step, before its effects): the heartbeat's state and what reached it, the
 *   coordinator's state, and each coordinator step for the scenario.
 * - A clean stop (`stop`) is the runtime's: resources stop (the coordinator's
 *   `stopped`), then the heartbeat says goodbye, then the process exits.
 * - The arbiter runs the heartbeat alone (the resources module is selected for
 *   members only).
 * - Admin commands go to the running ResourcesService, as its routes call it.
 */
import type { EngineStep } from "../../core/adapters.ts";
import { parseConfig, type LoadResult } from "../../core/config/load.ts";
import { parseDuration } from "../../core/duration.ts";
import { EventBus } from "../../core/events.ts";
import { Metrics } from "../../core/metrics.ts";
import type { ReloadOutcome } from "../../core/module.ts";
import { Runtime } from "../../core/runtime/runtime.ts";
import { heartbeatModule } from "../../modules/heartbeat/index.ts";
import type { Input as HbInput, State as HbState } from "../../modules/heartbeat/engine.ts";
import type { AgentAction, AgentStatus } from "../../core/agent.ts";
import { realAgents, type AgentAdapters } from "../../modules/resources/adapters.ts";
import type { FenceDevice } from "../../modules/resources/fencing/device.ts";
import { resourcesModule } from "../../modules/resources/index.ts";
import { watchdogModule } from "../../modules/watchdog/index.ts";
import type { WatchdogDevice } from "../../modules/watchdog/device.ts";
import type { AdminCommand, Effect, Input, State } from "../../modules/resources/engine.ts";
import type { ResourcesService } from "../../modules/resources/service.ts";
import { withSimKey } from "./config.ts";
import { hearing, machineClock, silent, SimDatagrams, type Heard } from "./heartbeat-node.ts";
import type { NodeContext } from "./world.ts";

/** What the process asks of the machine and the fence device; `answer` hands the outcome back to it. */
export interface Outside {
  run(proc: ClusterProcess, resource: string, action: AgentAction, signal: AbortSignal | undefined, answer: (status: AgentStatus) => void): void;
  fence(proc: ClusterProcess, node: string, answer: (ok: boolean) => void): void;
  /** The machine's watchdog device, opened by the process's watchdog module (with [watchdog]). */
  watchdog(proc: ClusterProcess): WatchdogDevice;
}

export interface CoordStepInfo {
  proc: ClusterProcess;
  /** Virtual time. */
  at: number;
  input: Input;
  effects: readonly Effect[];
}

export interface ClusterNodeOptions {
  /** The node's config text now: read at the start and by each reload. */
  configText(): string;
  /** This machine's monotonic clock reads virtual time plus this. */
  clockOffsetMs: number;
  /** Delay from the first boot to the runtime's start (a restarted process starts at once). */
  firstStartDelayMs: number;
  outside: Outside;
  /** Called after every coordinator step, before its effects are performed. */
  onCoordStep(info: CoordStepInfo): void;
  /** Called after every heartbeat step, before its effects are performed. */
  onHbStep?(proc: ClusterProcess): void;
}

export interface ClusterProcess {
  readonly name: string;
  /** The world's count of this node's boots. */
  readonly incarnation: number;
  /** The heartbeat engine's state as its last step left it (null before its start). */
  readonly hb: HbState | null;
  /** This machine's monotonic clock. */
  now(): number;
  readonly heard: ReadonlyMap<string, Heard>;
  /** The coordinator's state as its last step left it: null before its start, and on the arbiter. */
  readonly coord: State | null;
  /** The runtime's reloads so far, with their outcomes. */
  readonly reloads: readonly ReloadOutcome[];
  onMessage(from: string, payload: unknown, link: string): void;
  /** A clean stop (SIGTERM). */
  stop(): void;
  /** SIGHUP: the runtime re-reads the node's config text. */
  reload(): void;
  admin(command: AdminCommand): void;
}

const FILE = "/sim/tandem.toml";

/** Boot one process of a cluster node. */
export function clusterNode(ctx: NodeContext, o: ClusterNodeOptions): ClusterProcess {
  const load = (): LoadResult => {
    const r = parseConfig(o.configText(), FILE, [heartbeatModule, resourcesModule, watchdogModule]);
    return r.ok ? { ...r, config: withSimKey(r.config) } : r;
  };
  const first = load();
  if (!first.ok) throw new Error(`the sim's config is not valid: ${JSON.stringify(first.problems)}`);
  const config = first.config;
  const node = config.nodes.find((n) => n.name === ctx.name);
  if (!node) throw new Error(`the config has no node ${ctx.name}`);
  const clock = machineClock(ctx, o.clockOffsetMs);
  const { heard, observe: hear } = hearing(ctx);
  const events = new EventBus(ctx.name, clock.wall);
  events.subscribe((e) => ctx.trace(`${e.type} ${JSON.stringify(e.data)}`));
  let hb: HbState | null = null;
  let coord: State | null = null;
  let resources: ResourcesService | null = null;
  const reloads: ReloadOutcome[] = [];
  /** Promise work begun from a timer (an answer, a stop, an admin command) settles before the next timer. */
  const settle = () => ctx.pending(Promise.resolve());

  /** A throw in a handler the shells guard (the links' frame handler) would be swallowed: a violation goes to the world instead. */
  const guarded = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      ctx.report(e);
    }
  };
  const steps = (module: string, s: EngineStep) => {
    if (module === "heartbeat") {
      hb = s.state as HbState;
      hear(s.input as HbInput);
      if (o.onHbStep) guarded(() => o.onHbStep!(proc));
      return;
    }
    if (module !== "resources") return;
    coord = s.state as State;
    guarded(() => o.onCoordStep({ proc, at: ctx.clock.now(), input: s.input as Input, effects: s.effects as readonly Effect[] }));
  };

  const agents: AgentAdapters = {
    agent: (r) => ({
      name: r.agent,
      // A violation the scenario finds as an action begins goes to the world, not into the agent's promise (where the executor would take it for an error of the agent).
      run: (action, options) =>
        new Promise((resolve) =>
          guarded(() =>
            o.outside.run(proc, r.name, action, options.signal, (status) => {
              resolve({ action, status, exitCode: null, durationMs: 0, output: "", outputBytes: 0, message: "" });
              settle();
            }),
          ),
        ),
    }),
    // The real watchdog fence device on the machine's clock: its wait is what is tested; an answer settles as the sim's do.
    fenceDevice: (d, self, services, clock): FenceDevice => d.agent === "watchdog" ? realAgents.fenceDevice(d, self, services, { ...clock, after: (ms, fn) => clock.after(ms, () => (fn(), settle())) }) : ({
      name: d.name,
      kind: d.agent,
      action: d.action,
      timeoutMs: parseDuration(d.timeout)!,
      canFence: (n) => n !== self,
      fence: (target) =>
        new Promise((resolve) =>
          o.outside.fence(proc, target, (ok) => {
            resolve({ node: target, device: d.name, status: ok ? "fenced" : "failed", exitCode: ok ? 0 : 1, durationMs: 0, output: "", message: "" });
            settle();
          }),
        ),
    }),
  };

  const datagrams = new SimDatagrams(ctx, config);
  const runtime = new Runtime({
    node,
    clock,
    random: ctx.random,
    log: silent,
    events,
    metrics: new Metrics(),
    adapters: { datagrams, steps, agents, watchdog: () => o.outside.watchdog(proc) },
    configSource: { load: () => Promise.resolve(load()) },
    defs: [heartbeatModule, { ...resourcesModule, create: (mctx) => (resources = resourcesModule.create(mctx) as ResourcesService) }, watchdogModule],
    config,
    version: "sim",
    onExit: (code) => ctx.exit(code),
  });

  const proc: ClusterProcess = {
    name: ctx.name,
    incarnation: ctx.incarnation,
    get hb() {
      return hb;
    },
    now: clock.now,
    heard,
    get coord() {
      return coord;
    },
    reloads,
    onMessage(from, payload, link) {
      if (!datagrams.deliver(from, payload, link)) ctx.trace(`drop from ${from} on ${link}: no socket`);
    },
    stop() {
      runtime.stop();
      settle();
    },
    reload() {
      ctx.pending(runtime.reload().then((r) => void reloads.push(r)));
    },
    admin(command) {
      if (coord?.phase !== "running") return ctx.trace(`admin ${command.op} dropped: the coordinator does not run`);
      resources!.admin(command);
      settle();
    },
  };

  ctx.clock.after(ctx.incarnation === 1 ? o.firstStartDelayMs : 0, () => {
    runtime.start();
    settle();
  });
  return proc;
}
