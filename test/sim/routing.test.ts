/**
 * The routing module in the simulator: a node never announces a service it
 * cannot serve.
 *
 * Per seed, one director node on virtual time runs the real DirectorService
 * (managed by a director resource, its dataplane held in memory) and the real
 * RoutingService, with the checks, the heartbeat's bus and the resource
 * manager's standby given by the scenario, and a BIRD whose every apply takes
 * 1–40 ms and (in one seed of three) fails now and then, never twice in a
 * row. Over 20 s of virtual time the scenario flips servers' health, starts
 * and stops the director resource, takes quorum away and gives it back, puts
 * the node in standby and out, reloads the routing module with another set
 * of announced services, and stops and starts it cleanly. Apart from the
 * engines it keeps the truth: a prefix may be served while the routing module
 * runs, the director resource runs here, every announced service on the
 * address holds its quorum (counted by the scenario from the health it gave,
 * not by the director), the node is quorate and not in standby.
 *
 * Checked at every instant, on what BIRD holds (the last include it took):
 * - a prefix it announces is servable, or stopped being so at most
 *   2 × the longest apply ago (a change the shell is told of: health through
 *   the director, the resource, quorum, a reload, a stop), plus a poll and an
 *   apply for standby (read at every poll), plus a poll and two applies after
 *   a failed apply (tried again at the next change or poll);
 * - after a clean stop returns, nothing is announced;
 * - once the faults end, within a poll and two applies, BIRD announces
 *   exactly what is servable.
 */
import { expect, test } from "bun:test";
import { SimClock } from "./clock.ts";
import { deriveSeed, forEachSeedAsync } from "./seeds.ts";
import { seededRandom, type Random } from "../../core/random.ts";
import { parseConfig, type Config } from "../../core/config/load.ts";
import { MODULES } from "../../modules/index.ts";
import { realAdapters } from "../../core/adapters.ts";
import type { ClusterBus } from "../../core/cluster.ts";
import type { ChecksService, ChecksWant } from "../../modules/checks/control.ts";
import type { ServerChange } from "../../modules/checks/engine.ts";
import type { ServerHealth } from "../../modules/checks/messages.ts";
import { DirectorService } from "../../modules/director/service.ts";
import type { Change, Dataplane, VirtualService } from "../../modules/director/dataplane/model.ts";
import { RoutingService } from "../../modules/routing/service.ts";
import type { Bird } from "../../modules/routing/bird.ts";
import { testContext } from "../modules/context.ts";

const POLL_MS = 500;
const APPLY_MAX_MS = 40;
const RUN_MS = 20_000;
const QUIET_MS = POLL_MS + 3 * APPLY_MAX_MS;

/** web and tls share an address; dns has its own; each server's weight is its number. */
const SERVERS: Record<string, string[]> = { web: ["198.18.42.101", "198.18.42.102", "198.18.42.103"], tls: ["198.18.42.111", "198.18.42.112"], dns: ["198.18.42.121"] };
const VIPS = [
  { name: "web-vip", service: "web", address: "198.18.42.10", port: 80 },
  { name: "tls-vip", service: "tls", address: "198.18.42.10", port: 443 },
  { name: "dns-vip", service: "dns", address: "198.18.42.20", port: 53 },
];

/** The config: `announced` names the virtual services with announce = true; quorum per service. Forwarding dr: nothing touches the host's ip_forward (the dataplane is the sim's). */
function configText(announced: readonly string[], quorum: Record<string, number>): string {
  const services = Object.entries(SERVERS)
    .map(([name, addrs]) => `[[services]]\nname = "${name}"\nport = 80\nservers = [${addrs.map((a, i) => `{ address = "${a}", weight = ${i + 1} }`).join(", ")}]\ncheck = { kind = "none" }\n`)
    .join("\n");
  const vss = VIPS.map(
    (v) => `[[director.virtual_service]]\nname = "${v.name}"\naddress = "${v.address}"\nport = ${v.port}\nservice = "${v.service}"\nforwarding = "dr"\nquorum = ${quorum[v.service]}\n${announced.includes(v.name) ? "announce = true\n" : ""}`,
  ).join("\n");
  return `cluster = "sim-routing"
key_file = "cluster.key"
[[nodes]]
name = "alpha"
address = "198.18.42.2"
roles = ["member"]
[[nodes]]
name = "bravo"
address = "198.18.42.3"
roles = ["member"]
[resources]
[[resources.resource]]
name = "director"
agent = "director"
clone = true
${services}
[director]
${vss}
[routing]
poll = "${POLL_MS}ms"
[[routing.session]]
name = "edge"
peer = "198.18.42.1"
asn = 65000
local_asn = 65001
`;
}

function config(announced: readonly string[], quorum: Record<string, number>): Config {
  const r = parseConfig(configText(announced, quorum), "sim-routing.toml", MODULES);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

class HeldDataplane implements Dataplane {
  readonly name = "held";
  held: VirtualService[] = [];
  async read(): Promise<VirtualService[]> {
    return this.held;
  }
  async apply(_diff: Change[]): Promise<void> {}
  async reconcile(desired: VirtualService[]) {
    this.held = structuredClone(desired);
    return { diff: [], ms: 0 };
  }
}

/** Health as the scenario gives it, through the checks service's contract. */
class SimChecks implements ChecksService {
  healthy = new Map<string, boolean>();
  private listeners = new Set<(c: ServerChange) => void>();
  subscribe(_want: ChecksWant, onChange: (c: ServerChange) => void) {
    this.listeners.add(onChange);
    return { update: () => {}, close: () => void this.listeners.delete(onChange) };
  }
  health(key: string): ServerHealth | undefined {
    const h = this.healthy.get(key);
    return h === undefined ? undefined : this.of(key, h);
  }
  set(key: string, healthy: boolean): void {
    this.healthy.set(key, healthy);
    for (const l of this.listeners) l({ ...this.of(key, healthy), previous: healthy ? "down" : "up", reason: "sim" });
  }
  private of(key: string, healthy: boolean): ServerHealth {
    const [service, server] = key.split("/") as [string, string];
    return { key, service, server, state: healthy ? "up" : "down", healthy, weight: weightOf(key) };
  }
}

const keyOf = (service: string, address: string) => `${service}/${address}:80`;
const weightOf = (key: string) => {
  const [service, rest] = key.split("/");
  return SERVERS[service!]!.indexOf(rest!.split(":")[0]!) + 1;
};

/** BIRD: each apply takes 1–40 ms; a flaky one fails now and then, never twice in a row. */
class SimBird implements Bird {
  held: string[] = [];
  failedAt: number | null = null;
  private lastFailed = false;
  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
    public flaky: boolean,
  ) {}
  apply(text: string): Promise<void> {
    const prefixes = [...text.matchAll(/route (\S+) blackhole/g)].map((m) => m[1]!);
    return new Promise((resolve, reject) =>
      this.clock.after(this.random.between(1, APPLY_MAX_MS), () => {
        if (this.flaky && !this.lastFailed && this.random.chance(0.2)) {
          this.lastFailed = true;
          this.failedAt = this.clock.now();
          return reject(new Error("sim: birdc configure: no answer"));
        }
        this.lastFailed = false;
        this.held = prefixes;
        resolve();
      }),
    );
  }
  async protocols() {
    return [];
  }
}

interface Truth {
  routing: boolean;
  active: boolean;
  quorate: boolean;
  standby: boolean;
  announced: string[];
  quorum: Record<string, number>;
}

const prefixOf = (address: string) => `${address}/32`;

/** The prefixes the node may announce now, and those it could but for standby. */
function servable(t: Truth, checks: SimChecks): { now: Set<string>; butStandby: Set<string> } {
  const up = (service: string) => {
    const healthy = SERVERS[service]!.map((a) => keyOf(service, a)).filter((k) => checks.healthy.get(k) ?? true);
    const weight = healthy.reduce((s, k) => s + weightOf(k), 0);
    return t.quorum[service] === 0 ? healthy.length > 0 : weight >= t.quorum[service]!;
  };
  const now = new Set<string>();
  const butStandby = new Set<string>();
  for (const address of new Set(VIPS.filter((v) => t.announced.includes(v.name)).map((v) => v.address))) {
    const ok = VIPS.filter((v) => v.address === address && t.announced.includes(v.name)).every((v) => up(v.service));
    if (ok && t.routing && t.active && t.quorate) {
      butStandby.add(prefixOf(address));
      if (!t.standby) now.add(prefixOf(address));
    }
  }
  return { now, butStandby };
}

/** Run the clock to `until`, letting promise continuations run after each timer. */
async function runTo(clock: SimClock, until: number, check: () => void): Promise<void> {
  for (;;) {
    await Bun.sleep(0);
    check();
    const at = clock.nextAt();
    if (at === null || at > until) break;
    clock.runUntil(at);
  }
  clock.runUntil(until);
  await Bun.sleep(0);
  check();
}

/** Await `p`, which waits on virtual time (BIRD's applies), running the clock meanwhile. */
async function drive<T>(clock: SimClock, p: Promise<T>, check: () => void): Promise<T> {
  let done = false;
  const r = p.finally(() => (done = true));
  for (let idle = 0; !done; ) {
    const at = clock.nextAt();
    if (at === null && ++idle > 100) throw new Error(`t=${clock.now()}: waiting on nothing: no timer, and the operation is not done`);
    await runTo(clock, at ?? clock.now(), check);
  }
  return r;
}

/** One seed; the reasons of the withdrawals it saw. */
async function scenario(seed: number): Promise<Set<string>> {
  const random = seededRandom(deriveSeed(seed, "routing"));
  const clock = new SimClock();
  const flaky = seed % 3 === 0;
  const bird = new SimBird(clock, seededRandom(deriveSeed(seed, "bird")), flaky);
  const checks = new SimChecks();
  const truth: Truth = { routing: false, active: false, quorate: true, standby: false, announced: ["web-vip", "tls-vip", "dns-vip"], quorum: { web: random.int(5), tls: 0, dns: 0 } };
  let cfg = config(truth.announced, truth.quorum);
  const base = testContext(cfg, "alpha");
  const ctx = { ...base, clock, adapters: { ...realAdapters, bird: () => bird } };
  const watchers = new Set<() => void>();
  ctx.services.provide("checks", checks);
  ctx.services.provide("cluster", { snapshot: () => ({ self: "alpha", peers: [], quorate: truth.quorate, majority: truth.quorate }), watch: (f: () => void) => (watchers.add(f), () => watchers.delete(f)) } as unknown as ClusterBus);
  ctx.services.provide("resources", { holdsExclusive: () => false, standby: () => truth.standby });
  const reasons = new Set<string>();
  ctx.events.subscribe((e) => void (e.type === "routing.withdraw" && reasons.add((e.data as { reason: string }).reason)));
  if (process.env.SIM_DEBUG) ctx.events.subscribe((e) => console.log(clock.now().toFixed(1), e.type, JSON.stringify(e.data)));
  const director = new DirectorService(ctx, new HeldDataplane());
  await director.start(cfg);
  let routing = new RoutingService(ctx);

  /** When each prefix was last servable (for standby alone: `butStandby`). */
  const lastServable = new Map<string, number>();
  const lastButStandby = new Map<string, number>();
  const check = () => {
    const now = clock.now();
    const s = servable(truth, checks);
    for (const p of s.now) lastServable.set(p, now);
    for (const p of s.butStandby) lastButStandby.set(p, now);
    for (const p of bird.held) {
      if (s.now.has(p)) continue;
      const since = lastServable.get(p) ?? 0;
      const onlyStandby = s.butStandby.has(p) || (lastButStandby.get(p) ?? -1) > since;
      const failed = bird.failedAt !== null && bird.failedAt >= since;
      const bound = 2 * APPLY_MAX_MS + (onlyStandby ? POLL_MS + APPLY_MAX_MS : 0) + (failed ? POLL_MS + 2 * APPLY_MAX_MS : 0);
      if (now - since > bound) throw new Error(`t=${now}: BIRD announces ${p}, not servable since t=${since} (bound ${bound} ms): ${JSON.stringify(truth)}`);
    }
  };

  truth.routing = true;
  await drive(clock, routing.start(cfg), check);

  const act = async () => {
    const r = random.int(10);
    if (r < 4) {
      const service = ["web", "web", "tls", "dns"][random.int(4)]!;
      const address = SERVERS[service]![random.int(SERVERS[service]!.length)]!;
      const key = keyOf(service, address);
      checks.set(key, !(checks.healthy.get(key) ?? true));
    } else if (r < 6) {
      truth.active = !truth.active;
      const agent = ctx.services.agent("director")!;
      // The truth changes as the resource manager would see it: active from the start's begin, not after its stop.
      if (truth.active) await agent.run("start", {} as never);
      else await agent.run("stop", {} as never);
    } else if (r < 7) {
      truth.quorate = !truth.quorate;
      for (const w of watchers) w();
    } else if (r < 8) {
      truth.standby = !truth.standby;
    } else if (r < 9) {
      const announced = VIPS.map((v) => v.name).filter(() => random.chance(0.7));
      const next = config(announced, truth.quorum);
      truth.announced = announced;
      cfg = next;
      await drive(clock, routing.reload(next), check);
    } else {
      truth.routing = false;
      await drive(clock, routing.stop(), check);
      if (bird.held.length) throw new Error(`t=${clock.now()}: a clean stop returned with ${bird.held.join(", ")} still announced`);
      await runTo(clock, clock.now() + random.int(300), check);
      routing = new RoutingService(ctx);
      truth.routing = true;
      await drive(clock, routing.start(cfg), check);
    }
  };

  while (clock.now() < RUN_MS) {
    await runTo(clock, clock.now() + random.between(10, 600), check);
    await act();
    check();
  }
  // Quiet: no more faults; BIRD then holds exactly what is servable.
  bird.flaky = false;
  await runTo(clock, clock.now() + QUIET_MS, check);
  expect([...bird.held].sort()).toEqual([...servable(truth, checks).now].sort());
  await drive(clock, routing.stop(), check);
  expect(bird.held).toEqual([]);
  await director.stop();
  return reasons;
}

test("routing: a node never announces a service it cannot serve", async () => {
  const reasons = new Set<string>();
  const seeds = await forEachSeedAsync({ test: "routing: a node never announces a service it cannot serve", file: import.meta.path, seeds: 300 }, async (seed) => {
    for (const r of await scenario(seed)) reasons.add(r);
  });
  // A full run withdraws for every rule.
  if (seeds.length >= 100) expect([...reasons].sort()).toEqual(["director-inactive", "no-quorum", "removed", "service-down", "standby", "stopping"]);
}, 120_000);
