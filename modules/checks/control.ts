/**
 * The checks module on the control thread: it offers the "checks" service,
 * keeps who wants which services checked, and drives the checks' worker
 * thread (worker.ts) with the union of what is wanted. One checker per
 * (server, check) whatever the number of consumers: a service's servers are
 * checked while at least one subscription names it, from the first that
 * does to the last that leaves; the thread itself runs only while someone
 * subscribes. Health comes back as messages; the control thread keeps the
 * newest health of every checked server and tells each consumer the changes
 * of its services. A thread that dies is replaced WORKER_RESTART_MS later
 * (on the runtime's clock) with the current set.
 */
import type { Config } from "../../core/config/load.ts";
import { retireWorker, workerEntry } from "../../core/threads.ts";
import type { Cancel } from "../../core/time.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import type { ServiceRaw } from "./config.ts";
import type { EngineParams, ServerChange } from "./engine.ts";
import type { ServiceStatus } from "./service.ts";
import { STATUS_REQUESTS_IN_FLIGHT, STOP_WAIT_MS, WORKER_RESTART_MS, type FromWorker, type ServerHealth, type ToWorker } from "./messages.ts";

/** What a consumer wants checked, and how. */
export interface ChecksWant {
  /** [[services]] names: all their servers are checked. */
  services: readonly string[];
  /** Checks in flight at once that this consumer asks for; the module uses the largest asked. */
  concurrency: number;
  /** What a server counts as until checked; "down" (alpha) from any consumer holds for all. */
  initial: "up" | "down";
}

export interface ChecksSubscription {
  /** Replace what this consumer wants (a reload of its config). */
  update(want: ChecksWant): void;
  /** Leave: servers no other consumer wants stop being checked. */
  close(): void;
}

/** The "checks" service in ctx.services. */
export interface ChecksService {
  /** Check the servers of `want.services`; `onChange` hears each change of their health or weight. */
  subscribe(want: ChecksWant, onChange: (change: ServerChange) => void): ChecksSubscription;
  /** The newest health of a checked server by key (core/net/address.ts), or undefined before its first report. */
  health(key: string): ServerHealth | undefined;
}

interface Consumer {
  want: ChecksWant;
  onChange: (change: ServerChange) => void;
}

export class ChecksModule implements ModuleInstance {
  private services: readonly ServiceRaw[] = [];
  private readonly consumers = new Set<Consumer>();
  private readonly healthByKey = new Map<string, ServerHealth>();
  private lastStatus: ServiceStatus[] = [];
  private statusAsked = 0;
  /** The thread while someone subscribes; null with nobody, after a stop, and while a dead one waits for its replacement. */
  private worker: Worker | null = null;
  /** Threads told to stop, until they said so or were terminated. */
  private readonly retiring = new Set<Promise<void>>();
  private configureQueued = false;
  private restart: Cancel | null = null;
  private stopped = false;
  private withdraw: (() => void) | null = null;

  constructor(
    private readonly ctx: ModuleContext,
    /** The worker's entry (tests may give another). */
    private readonly entry = workerEntry("modules/checks/worker.ts"),
  ) {}

  async start(config: Config): Promise<void> {
    this.services = config.raw.services ?? [];
    this.withdraw = this.ctx.services.provide("checks", {
      subscribe: (want, onChange) => this.subscribe(want, onChange),
      health: (key) => this.healthByKey.get(key),
    });
  }

  async reload(config: Config): Promise<void> {
    this.services = config.raw.services ?? [];
    this.configure();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.withdraw?.();
    this.idle();
    await Promise.all(this.retiring);
  }

  /** The newest status the worker sent; asks for a fresh one for the next call. */
  status(): Record<string, unknown> {
    if (this.worker && this.statusAsked < STATUS_REQUESTS_IN_FLIGHT) {
      this.statusAsked++;
      this.worker.postMessage({ type: "status" } satisfies ToWorker);
    }
    const thread = this.worker ? "running" : this.restart ? "restarting" : "idle";
    return { thread, consumers: this.consumers.size, checked: this.healthByKey.size, services: this.lastStatus };
  }

  private subscribe(want: ChecksWant, onChange: (change: ServerChange) => void): ChecksSubscription {
    const consumer: Consumer = { want, onChange };
    this.consumers.add(consumer);
    this.configure();
    return {
      update: (next) => {
        consumer.want = next;
        this.configure();
      },
      close: () => {
        if (this.consumers.delete(consumer)) this.configure();
      },
    };
  }

  /** The services the consumers want, and the params they ask for together. */
  private wanted(): { services: ServiceRaw[]; p: EngineParams } {
    const names = new Set([...this.consumers].flatMap((c) => c.want.services));
    const wants = [...this.consumers].map((c) => c.want);
    const p: EngineParams = { concurrency: Math.max(...wants.map((w) => w.concurrency)), initial: wants.some((w) => w.initial === "down") ? "down" : "up" };
    return { services: this.services.filter((s) => names.has(s.name)), p };
  }

  /**
   * One configure a turn, with the newest wants: many subscriptions in one
   * turn are one message. The first consumer starts the thread; after the
   * last leaves, it is stopped.
   */
  private configure(): void {
    if (this.configureQueued) return;
    this.configureQueued = true;
    queueMicrotask(() => {
      this.configureQueued = false;
      if (this.stopped) return;
      if (!this.consumers.size) return this.idle();
      if (!this.worker && !this.restart) this.spawn();
      this.worker?.postMessage({ type: "configure", ...this.wanted() } satisfies ToWorker);
    });
  }

  private spawn(): void {
    const worker = new Worker(this.entry);
    this.worker = worker;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.heard(e.data);
    worker.onerror = (e) => this.died(worker, e.message);
    // A thread that exits without an uncaught error (process.exit) is as dead.
    worker.addEventListener("close", (e) => this.died(worker, `the thread exited with code ${(e as CloseEvent).code}`));
  }

  /** A dead thread is replaced WORKER_RESTART_MS later, sent the set wanted then; one that is not the current thread is no news. */
  private died(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    this.ctx.log.error({ error: message }, "the checks' thread failed; a new one takes over");
    this.ctx.events.emit("checks.error", { message });
    worker.terminate();
    this.worker = null;
    this.statusAsked = 0;
    this.restart = this.ctx.clock.after(WORKER_RESTART_MS, () => {
      this.restart = null;
      this.configure();
    });
  }

  /** Nothing to check: the thread stops (a pending restart is called off), and no health is kept. */
  private idle(): void {
    this.restart?.();
    this.restart = null;
    if (this.worker) this.retire(this.worker);
    this.worker = null;
    this.statusAsked = 0;
    this.healthByKey.clear();
    this.lastStatus = [];
  }

  /** Tell the thread to stop (its checks aborted) and terminate it once it says so, or STOP_WAIT_MS later. */
  private retire(worker: Worker): void {
    const done = retireWorker(worker, this.ctx.clock, STOP_WAIT_MS);
    this.retiring.add(done);
    void done.then(() => this.retiring.delete(done));
  }

  private tell(c: ServerChange): void {
    this.ctx.events.emit("checks.server", { ...c });
    for (const consumer of this.consumers) if (consumer.want.services.includes(c.service)) consumer.onChange(c);
  }

  private heard(m: FromWorker): void {
    switch (m.type) {
      case "health": {
        // After a configure the same health; after a new thread's first, what its fresh checker says: told as changes.
        const before = new Map(this.healthByKey);
        this.healthByKey.clear();
        for (const h of m.servers) {
          this.healthByKey.set(h.key, h);
          const was = before.get(h.key);
          if (was && (was.healthy !== h.healthy || was.weight !== h.weight)) this.tell({ ...h, previous: was.state, reason: "the checks' thread started again" });
        }
        break;
      }
      case "changes":
        for (const c of m.changes) {
          const { previous: _, reason: __, ...health } = c;
          this.healthByKey.set(c.key, health);
          this.tell(c);
        }
        break;
      case "status":
        this.statusAsked = 0;
        this.lastStatus = m.services;
        break;
    }
  }
}
