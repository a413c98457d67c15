/**
 * The IPVS dataplane: the kernel's own LVS, programmed in-process through
 * generic netlink (core/os/genetlink.ts), no ipvsadm process. The shell
 * around ipvs-msg.ts: it dumps the services and their destinations, and
 * applies each change as one or more commands, each acked by the kernel.
 *
 * Ownership: IPVS has one table per network namespace and no tag to mark
 * whose a service is, so Tandem owns all of it, as keepalived does with
 * `lvs_flush`: a service Tandem does not want is removed, even one it did
 * not add. That survives a restart without state (a service dropped from the
 * config while the daemon was down goes at the next reconcile; a service
 * remembered only in memory would stay for ever), and `read()` says what
 * the kernel holds, which the director resource's monitor relies on. The
 * price: nothing else (ipvsadm by hand, kube-proxy in IPVS mode) may keep
 * services in the same namespace.
 *
 * IPVS commands are not atomic as a batch: a failure stops the apply at
 * that command, and the next reconcile reads the kernel again. An operation
 * keeps one netlink socket for all its commands, and gives the event loop a
 * turn every few milliseconds of them.
 */
import { GenlSocket, resolveFamily, type GenlMessage } from "../../../core/os/genetlink.ts";
import { applyDiff, diff, touched } from "./diff.ts";
import { ERRNO, OsError } from "../../../core/os/libc.ts";
import { familyOfAddress, realKey, settingsOf, type Change, type Dataplane, type Reconciled, type ReconcileOptions, type ServiceSettings, type VirtualService } from "./model.ts";
import { commandsFor, getDests, getService, IPVS_CMD, IPVS_GENL_NAME, IPVS_GENL_VERSION, parseDest, parseService, persistenceSeconds, type Unheld } from "./ipvs-msg.ts";

/** Where the kernel shows IPVS once ip_vs is loaded ("auto" picks IPVS when it is there). */
export const PROC_IP_VS = "/proc/net/ip_vs";
/** What a kernel without IPVS is told as. */
export const NO_IPVS = "the kernel has no IPVS (load ip_vs)";
const MS_PER_S = 1000;
/**
 * Netlink work between two turns of the event loop: the calls are synchronous, and a table of thousands of
 * entries must not hold the heartbeat, in the same process, up for longer than this.
 */
const SLICE_MS = 5;

/** A function to await between commands: it gives the event loop a turn once SLICE_MS of work has passed. */
function turns(): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}

export interface IpvsOptions {
  /** Where a service IPVS holds but Tandem cannot read (SCTP, say) is said. */
  warn?: (message: string) => void;
}

/** `desired` as IPVS holds it: persistence in whole seconds (rounded up), so an unchanged service reads back equal. */
export function effective(desired: VirtualService[]): VirtualService[] {
  return desired.map((vs) => (vs.persistence ? { ...vs, persistence: { ...vs.persistence, timeoutMs: persistenceSeconds(vs.persistence.timeoutMs) * MS_PER_S } } : vs));
}

export class IpvsDataplane implements Dataplane {
  readonly name = "ipvs";
  private readonly warn: (message: string) => void;
  /** What IPVS holds, as this instance last read or applied it; undefined until then, and after a failed apply. */
  private held: Map<string, VirtualService> | undefined;
  /** What IPVS does not keep of a service (a fwmark service's protocol, the default forwarding), as last desired; only desired keys. */
  private readonly unheld = new Map<string, Unheld>();
  /**
   * Each service as the last reconcile made IPVS hold it, as desired (its JSON): desired the same again, it is
   * not diffed (drift made by others is the full read's to find). Empty after a failed apply.
   */
  private readonly reconciled = new Map<string, string>();
  /** One operation at a time: each waits for the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: IpvsOptions = {}) {
    this.warn = options.warn ?? (() => {});
  }

  /** The IPVS family's id; OsError ENOENT saying the kernel has no IPVS. Resolved per operation: a reloaded ip_vs gets a new one. */
  family(): number {
    return resolveFamily(IPVS_GENL_NAME, NO_IPVS);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => {});
    return run;
  }

  private remember(vs: ServiceSettings): void {
    this.unheld.set(vs.key, { protocol: vs.protocol, forwarding: vs.forwarding });
  }

  /** Runs `op` on a generic netlink socket of its own, opened for the whole operation and closed after it. */
  private async withSocket<T>(what: string, op: (socket: GenlSocket) => Promise<T>): Promise<T> {
    const socket = new GenlSocket(what);
    try {
      return await op(socket);
    } finally {
      socket.close();
    }
  }

  private async load(socket: GenlSocket, turn: () => Promise<void>): Promise<VirtualService[]> {
    const family = this.family();
    const services: VirtualService[] = [];
    for (const m of socket.dump("list the IPVS services", family, IPVS_CMD.GET_SERVICE, IPVS_GENL_VERSION)) {
      const settings = parseService(m.attrs, (key) => this.unheld.get(key) ?? { protocol: "tcp", forwarding: "nat" });
      if (typeof settings === "string") {
        this.warn(`IPVS holds a service Tandem cannot read, left as it is: ${settings}`);
        continue;
      }
      services.push(this.withReals(socket, family, settings));
      await turn();
    }
    this.held = new Map(services.map((s) => [s.key, s]));
    return services;
  }

  /** The service with the real servers IPVS holds for it. */
  private withReals(socket: GenlSocket, family: number, settings: ServiceSettings): VirtualService {
    const ipFamily = familyOfAddress(settings.address)!;
    const reals = [];
    for (const d of socket.dump(`list the real servers of ${settings.key}`, family, IPVS_CMD.GET_DEST, IPVS_GENL_VERSION, getDests(settings).attrs)) {
      const real = parseDest(d.attrs, ipFamily);
      if (typeof real === "string") this.warn(`IPVS service ${settings.key}: ${real}; left as it is`);
      else reals.push(real);
    }
    const forwarding = this.unheld.get(settings.key)?.forwarding ?? reals[0]?.forwarding ?? settings.forwarding;
    return { ...settings, forwarding, reals };
  }

  /**
   * Only the services `keys` names read back from IPVS into `held` (each one a get and a dump of its real
   * servers; one IPVS does not have is gone from it); those services as IPVS holds them.
   */
  private async loadSome(socket: GenlSocket, turn: () => Promise<void>, keys: Set<string>, want: VirtualService[]): Promise<VirtualService[]> {
    const family = this.family();
    const held = this.held!;
    const out: VirtualService[] = [];
    for (const key of keys) {
      const id = held.get(key) ?? want.find((s) => s.key === key)!;
      let answer: GenlMessage[];
      try {
        answer = socket.query(`read the IPVS service ${key}`, family, IPVS_CMD.GET_SERVICE, IPVS_GENL_VERSION, getService(settingsOf(id)).attrs);
      } catch (err) {
        if (!(err instanceof OsError && err.errno === ERRNO.ESRCH)) throw err;
        answer = [];
      }
      const settings = answer[0] && parseService(answer[0].attrs, (k) => this.unheld.get(k) ?? { protocol: "tcp", forwarding: "nat" });
      if (settings && typeof settings !== "string" && settings.key === key) {
        const vs = this.withReals(socket, family, settings);
        held.set(key, vs);
        out.push(vs);
      } else held.delete(key);
      await turn();
    }
    return out;
  }

  /**
   * Each change's commands in order, the services' settings followed change by change (a real server's
   * commands name its service); then `held` is what it was with the changes applied. A failure drops `held`
   * (the next call reads again).
   */
  private async commit(socket: GenlSocket, turn: () => Promise<void>, changes: Change[]): Promise<void> {
    // Only the services the changes name: a change to one service costs the same whatever the table's size.
    const keys = touched(changes);
    const held = this.held!;
    const before = [...keys].flatMap((key) => held.get(key) ?? []);
    const settings = new Map(before.map((s) => [s.key, settingsOf(s)]));
    const family = changes.length ? this.family() : 0;
    try {
      for (const change of changes) {
        for (const c of commandsFor(change, settings)) socket.request(describe(change), family, c.cmd, IPVS_GENL_VERSION, c.attrs);
        if (change.kind === "add-service" || change.kind === "update-service") {
          const next = change.kind === "add-service" ? settingsOf(change.service) : change.service;
          settings.set(next.key, next);
          this.remember(next);
        } else if (change.kind === "remove-service") settings.delete(change.key);
        await turn();
      }
      const after = applyDiff(before, changes);
      for (const key of keys) held.delete(key);
      for (const s of after) held.set(s.key, s);
    } catch (err) {
      this.held = undefined;
      throw err;
    }
  }

  /** The services IPVS holds, with their real servers; a service Tandem cannot read is left out, with a warning. */
  read(): Promise<VirtualService[]> {
    return this.serial(() => this.withSocket("read IPVS", (socket) => this.load(socket, turns())));
  }

  apply(changes: Change[]): Promise<void> {
    return this.serial(() =>
      this.withSocket("change IPVS", async (socket) => {
        const turn = turns();
        if (!this.held) await this.load(socket, turn);
        // What these changes touch is no longer as the last reconcile left it.
        for (const key of touched(changes)) this.reconciled.delete(key);
        await this.commit(socket, turn, changes);
      }),
    );
  }

  /**
   * Make IPVS hold `desired`: read it, diff, apply only the difference.
   * The whole table is read when `full` is asked (the director's periodic
   * repair of drift made by others, a reload) and whenever this instance
   * does not know it (the first time, after a failed apply); otherwise only
   * the services desired otherwise than at the last reconcile are diffed
   * against what it last read or applied, and those that differ read back
   * (a table of 1,000 services is 1,001 dumps to read), so a change
   * to one service costs a few kernel calls whatever the table's size, and
   * nothing changed is no kernel call at all. Established connections keep
   * their real server through a drain, a weight change or a removal (IPVS
   * keeps their entries until they end).
   */
  reconcile(desired: VirtualService[], options: ReconcileOptions = {}): Promise<Reconciled> {
    return this.serial(() =>
      this.withSocket("reconcile IPVS", async (socket) => {
        const t0 = performance.now();
        const turn = turns();
        const want = effective(desired);
        this.unheld.clear();
        for (const vs of want) this.remember(vs);
        const written = want.map((vs) => JSON.stringify(vs));
        let changes: Change[];
        if (!this.held || options.full) changes = diff(await this.load(socket, turn), want);
        else {
          // Only the services desired otherwise than last time, and those no longer desired, are diffed.
          const held = this.held;
          const again = want.filter((vs, i) => this.reconciled.get(vs.key) !== written[i]);
          const wanted = new Set(want.map((vs) => vs.key));
          const before = [...again.flatMap((vs) => held.get(vs.key) ?? []), ...[...held.values()].filter((vs) => !wanted.has(vs.key))];
          const keys = touched(diff(before, again));
          changes = keys.size ? diff(await this.loadSome(socket, turn, keys, want), want.filter((s) => keys.has(s.key))) : [];
        }
        this.reconciled.clear();
        await this.commit(socket, turn, changes);
        want.forEach((vs, i) => this.reconciled.set(vs.key, written[i]!));
        return { diff: changes, ms: performance.now() - t0 };
      }),
    );
  }
}

/** A change in words, for errors: "add real server 10.0.0.1:80 to tcp:10.0.0.9:80". */
export function describe(c: Change): string {
  switch (c.kind) {
    case "add-service":
      return `add IPVS service ${c.service.key}`;
    case "update-service":
      return `change IPVS service ${c.service.key}`;
    case "remove-service":
      return `remove IPVS service ${c.key}`;
    case "add-real":
      return `add real server ${realKey(c.real)} to ${c.key}`;
    case "update-real":
      return `change real server ${realKey(c.real)} of ${c.key}`;
    case "remove-real":
      return `remove real server ${realKey(c)} from ${c.key}`;
  }
}
