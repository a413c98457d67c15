/**
 * The runtime shell around the lifecycle engine: it holds the engine's state,
 * performs its effects (calls module start/reload/stop), feeds outcomes back,
 * schedules the engine's ticks, and turns reload requests into validated plans.
 */
import { createHash } from "node:crypto";
import type { Config, NodeConfig } from "../config/load.ts";
import { findSelf, loadConfig, type LoadResult } from "../config/load.ts";
import { adaptersOf } from "../adapters.ts";
import { formatProblem } from "../config/problems.ts";
import { EngineLoop } from "../engine-loop.ts";
import { Services } from "../cluster.ts";
import { StateStore } from "../state.ts";
import { checkModules, type ModuleContext, type ModuleDef, type ModuleInstance, type ReloadOutcome, type RuntimeView } from "../module.ts";
import type { RouteSpec } from "../api/routes.ts";
import { initialState, nextDeadline, orderModules, step, type Effect, type Input, type Plan, type State } from "./engine.ts";

/** Where a reload reads the config from: the file on disk, or (test/sim) a text the scenario gives. */
export interface ConfigSource {
  load(file: string, modules: readonly ModuleDef[]): Promise<LoadResult>;
}

/** What the runtime is given: the context it passes on to modules, plus its own. */
export interface RuntimeOptions extends Omit<ModuleContext, "runtime" | "services" | "state"> {
  /** The config file on disk when absent. */
  configSource?: ConfigSource;
  defs: readonly ModuleDef[];
  config: Config;
  /** `tandem run --state-dir`: where state is kept, over the config's state_dir. */
  stateDir?: string;
  version: string;
  onExit(code: number): void;
}

function sectionHash(section: unknown): string {
  return createHash("sha256").update(JSON.stringify(section ?? null)).digest("hex").slice(0, 16);
}

/**
 * The plan a config gives this node: its selected modules and their section
 * hashes. Among the modules `after` leaves free, those that register resource
 * agent kinds come first, with every module they wait for, so a resource of
 * their kind finds its module from the resource manager's first probe, and,
 * stops being the reverse, the resource manager's stop of their resources
 * still finds them running.
 */
export function planFor(defs: readonly ModuleDef[], config: Config, node: NodeConfig): Plan {
  const selected = defs.filter((d) => d.selected(config, node));
  const first = new Set<string>();
  const pull = (name: string): void => {
    if (first.has(name)) return;
    first.add(name);
    for (const d of selected.find((s) => s.name === name)?.after ?? []) pull(d);
  };
  for (const d of selected) if (d.agents?.length) pull(d.name);
  const modules = [...selected.filter((d) => first.has(d.name)), ...selected.filter((d) => !first.has(d.name))].map((d) => ({
    name: d.name,
    after: d.after,
    hash: sectionHash(d.section(config, node)),
  }));
  orderModules(modules);
  return { hash: config.hash, modules, moduleTimeoutMs: config.runtime.moduleTimeoutMs, stopTimeoutMs: config.runtime.stopTimeoutMs };
}

/**
 * Whether a reload would change nothing: the same config text and the same
 * section for every module. A section may hold more than the text (the
 * proxy's holds its certificate files' stamps), so a reload that finds
 * renewed files reaches the module whose section they are in.
 */
function samePlan(a: Plan, b: Plan | null): boolean {
  return b !== null && a.hash === b.hash && a.modules.length === b.modules.length && a.modules.every((m) => b.modules.some((n) => n.name === m.name && n.hash === m.hash));
}

export class Runtime implements RuntimeView {
  private readonly loop: EngineLoop<State, Input, Effect>;
  private readonly instances = new Map<string, ModuleInstance>();
  /** Configs by hash, for the plans the engine holds. */
  private readonly configs = new Map<string, Config>();
  private readonly startedAt: number;
  private node: NodeConfig;
  private readonly services = new Services();
  /** Opened once: the state dir is read at start, a reload cannot change it. */
  private readonly store: StateStore;

  /** Throws when the state dir cannot be used (see StateStore). */
  constructor(private readonly o: RuntimeOptions) {
    checkModules(o.defs);
    this.node = o.node;
    this.startedAt = o.clock.wall();
    this.store = new StateStore({ dir: o.stateDir ?? o.config.stateDir, cluster: o.config.cluster, node: o.node.name, log: o.log, clock: o.clock, events: o.events, metrics: o.metrics });
    this.loop = new EngineLoop(o.clock, initialState, {
      step,
      nextDeadline,
      tick: () => ({ type: "tick", now: o.clock.now() }),
      perform: (e) => this.perform(e),
    });
    o.metrics.collect("tandem_module_up", "1 when the module is running on this node", () =>
      Object.values(this.state.modules).map((m) => ({ labels: { module: m.name }, value: m.state === "running" || m.state === "reloading" ? 1 : 0 })),
    );
    const reloads = o.metrics.counter("tandem_config_reloads_total", "config reloads by result (accepted, unchanged, rejected)");
    o.events.subscribe((e) => {
      if (e.type === "config.reload" && typeof e.data.result === "string" && e.data.result !== "applying") reloads.inc({ result: e.data.result });
    });
  }

  get config(): Config {
    return this.configs.get(this.state.plan?.hash ?? "") ?? this.o.config;
  }

  start(): void {
    this.configs.set(this.o.config.hash, this.o.config);
    this.feed({ type: "start", plan: planFor(this.o.defs, this.o.config, this.node), now: this.o.clock.now() });
  }

  stop(): void {
    this.feed({ type: "stop", now: this.o.clock.now() });
  }

  async reload(): Promise<ReloadOutcome> {
    const file = this.config.file;
    const loaded = await (this.o.configSource?.load(file, this.o.defs) ?? loadConfig(file, this.o.defs));
    const problems = loaded.ok ? [] : loaded.problems.map((p) => formatProblem(file, p));
    let plan: Plan | undefined;
    if (loaded.ok) {
      const self = findSelf(loaded.config, this.node.name, this.node.name);
      if ("problem" in self) problems.push(formatProblem(file, self.problem));
      else if (loaded.config.cluster !== this.config.cluster)
        problems.push(`${file}: cluster: the cluster name cannot change on a reload (running "${this.config.cluster}", file says "${loaded.config.cluster}"); restart the node instead`);
      else if (this.o.stateDir === undefined && loaded.config.stateDir !== this.o.config.stateDir)
        problems.push(`${file}: state_dir: the state dir is read at start and cannot change on a reload (running with ${this.o.config.stateDir ?? "none"}, file says ${loaded.config.stateDir ?? "none"}); restart the node instead`);
      else {
        this.node = self.node;
        plan = planFor(this.o.defs, loaded.config, self.node);
        this.configs.set(loaded.config.hash, loaded.config);
      }
    }
    const now = this.o.clock.now();
    if (!plan) {
      for (const p of problems) this.o.log.error({ problem: p }, "config reload refused; keeping the running config");
      this.feed({ type: "reload-rejected", reason: problems.join("\n"), now });
      return { result: "rejected", problems };
    }
    if (samePlan(plan, this.state.plan) && this.state.queued === null) {
      this.o.events.emit("config.reload", { result: "unchanged", config: plan.hash });
      return { result: "unchanged", config: plan.hash };
    }
    this.feed({ type: "reload", plan, now });
    this.o.events.emit("config.reload", { result: "accepted", config: plan.hash });
    return { result: "accepted", config: plan.hash };
  }

  routes(): RouteSpec[] {
    const out: RouteSpec[] = [];
    for (const [name, inst] of this.instances) {
      const m = this.state.modules[name];
      if (m?.state !== "running" && m?.state !== "reloading") continue;
      for (const r of inst.routes?.() ?? []) out.push({ ...r, path: `/v1/${name}${r.path}` });
    }
    return out;
  }

  status(): Record<string, unknown> {
    const modules: Record<string, unknown> = {};
    for (const m of Object.values(this.state.modules)) {
      modules[m.name] = {
        state: m.state,
        ...(m.error ? { error: m.error } : {}),
        ...(this.instances.get(m.name)?.status() ?? {}),
      };
    }
    return {
      node: this.node.name,
      cluster: this.config.cluster,
      version: this.o.version,
      phase: this.state.phase,
      config: { hash: this.config.hash, file: this.config.file },
      stateFile: this.store.file,
      stateWriteError: this.store.writeError,
      startedAt: new Date(this.startedAt).toISOString(),
      modules,
    };
  }

  private get state(): State {
    return this.loop.state;
  }

  private feed(input: Input): void {
    this.loop.feed(input);
    for (const hash of this.configs.keys()) if (hash !== this.state.plan?.hash && hash !== this.state.queued?.hash) this.configs.delete(hash);
  }

  private perform(e: Effect): void {
    switch (e.type) {
      case "event":
        this.o.events.emit(e.event, e.data);
        return;
      case "exit":
        this.store.close();
        this.o.onExit(e.code);
        return;
      case "start":
      case "reload":
      case "stop":
        this.operate(e.type, e.op, e.name);
        return;
    }
  }

  private operate(kind: "start" | "reload" | "stop", op: number, name: string): void {
    const config = this.config;
    let inst = this.instances.get(name);
    const call = async (): Promise<void> => {
      if (kind === "start") {
        const def = this.o.defs.find((d) => d.name === name)!;
        inst = def.create({ ...this.o, node: this.node, log: this.o.log.child({ module: name }), runtime: this, services: this.services, state: this.store, adapters: adaptersOf(this.o) });
        this.instances.set(name, inst);
        await inst.start(config);
      } else if (kind === "reload") await inst!.reload(config);
      else {
        this.instances.delete(name);
        await inst?.stop();
      }
    };
    call().then(
      () => this.feed({ type: "done", op, ok: true, now: this.o.clock.now() }),
      (err: unknown) => {
        const error = err instanceof Error ? err.message : String(err);
        this.o.log.error({ module: name, op: kind, err: error }, `module ${kind} failed`);
        this.feed({ type: "done", op, ok: false, error, now: this.o.clock.now() });
      },
    );
  }
}
