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
 * that command, and the next reconcile reads the kernel again.
 */
import { resolveFamily, genlDump, genlRequest } from "../../../core/os/genetlink.ts";
import { applyDiff, diff } from "./diff.ts";
import { familyOfAddress, realKey, settingsOf, type Change, type Dataplane, type Reconciled, type ServiceSettings, type VirtualService } from "./model.ts";
import { commandsFor, getDests, IPVS_CMD, IPVS_GENL_NAME, IPVS_GENL_VERSION, parseDest, parseService, persistenceSeconds, type Unheld } from "./ipvs-msg.ts";

/** Where the kernel shows IPVS once ip_vs is loaded ("auto" picks IPVS when it is there). */
export const PROC_IP_VS = "/proc/net/ip_vs";
/** What a kernel without IPVS is told as. */
export const NO_IPVS = "the kernel has no IPVS (load ip_vs)";
const MS_PER_S = 1000;

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

  private load(): VirtualService[] {
    const family = this.family();
    const services: VirtualService[] = [];
    for (const m of genlDump("list the IPVS services", family, IPVS_CMD.GET_SERVICE, IPVS_GENL_VERSION)) {
      const settings = parseService(m.attrs, (key) => this.unheld.get(key) ?? { protocol: "tcp", forwarding: "nat" });
      if (typeof settings === "string") {
        this.warn(`IPVS holds a service Tandem cannot read, left as it is: ${settings}`);
        continue;
      }
      const ipFamily = familyOfAddress(settings.address)!;
      const reals = [];
      for (const d of genlDump(`list the real servers of ${settings.key}`, family, IPVS_CMD.GET_DEST, IPVS_GENL_VERSION, getDests(settings).attrs)) {
        const real = parseDest(d.attrs, ipFamily);
        if (typeof real === "string") this.warn(`IPVS service ${settings.key}: ${real}; left as it is`);
        else reals.push(real);
      }
      const forwarding = this.unheld.get(settings.key)?.forwarding ?? reals[0]?.forwarding ?? settings.forwarding;
      services.push({ ...settings, forwarding, reals });
    }
    this.held = new Map(services.map((s) => [s.key, s]));
    return services;
  }

  /** Each change's commands in order; `held` follows change by change, and is dropped on a failure (the next call reads again). */
  private commit(changes: Change[]): void {
    let held = [...this.held!.values()];
    const family = changes.length ? this.family() : 0;
    try {
      for (const change of changes) {
        const settings = new Map(held.map((s) => [s.key, settingsOf(s)]));
        for (const c of commandsFor(change, settings)) genlRequest(describe(change), family, c.cmd, IPVS_GENL_VERSION, c.attrs);
        held = applyDiff(held, [change]);
        if (change.kind === "add-service" || change.kind === "update-service") this.remember(change.service);
      }
    } catch (err) {
      this.held = undefined;
      throw err;
    }
    this.held = new Map(held.map((s) => [s.key, s]));
  }

  /** The services IPVS holds, with their real servers; a service Tandem cannot read is left out, with a warning. */
  read(): Promise<VirtualService[]> {
    return this.serial(async () => this.load());
  }

  apply(changes: Change[]): Promise<void> {
    return this.serial(async () => {
      if (!this.held) this.load();
      this.commit(changes);
    });
  }

  /**
   * Make IPVS hold `desired`: dump it, diff, apply only the difference.
   * Nothing changed: no command at all. Established connections keep their
   * real server through a drain, a weight change or a removal (IPVS keeps
   * their entries until they end).
   */
  reconcile(desired: VirtualService[]): Promise<Reconciled> {
    return this.serial(async () => {
      const t0 = performance.now();
      const want = effective(desired);
      this.unheld.clear();
      for (const vs of want) this.remember(vs);
      const changes = diff(this.load(), want);
      this.commit(changes);
      return { diff: changes, ms: performance.now() - t0 };
    });
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
