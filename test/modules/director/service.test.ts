/**
 * The director's shell over a dataplane of the test's: the admin's drain,
 * through the director's routes as the API calls them, reaches the dataplane's
 * desired state for an IPv6 server and for a server without a port (keys as
 * core/net/address.ts writes them); its subscription, which follows a
 * checks module started again by a reload; and its view, which tells the
 * routing module a virtual service is up only after the dataplane holds its
 * server, and down before the dataplane lets it go.
 */
import { describe, expect, test } from "bun:test";
import type { ModuleInstance } from "../../../core/module.ts";
import { matchPath } from "../../../core/api/routes.ts";
import { Services } from "../../../core/cluster.ts";
import { checksModule } from "../../../modules/checks/index.ts";
import { DirectorService } from "../../../modules/director/service.ts";
import type { Change, Dataplane, VirtualService } from "../../../modules/director/dataplane/model.ts";
import { memberConfig, testContext } from "../context.ts";
import { waitFor } from "../../helpers.ts";

const SECTIONS = `[[services]]
name = "web6"
port = 80
servers = [{ address = "2001:db8::1" }, { address = "2001:db8::2" }]
check = { kind = "none" }

[[services]]
name = "any"
servers = [{ address = "198.18.1.101" }, { address = "198.18.1.102" }]
check = { kind = "none" }

[director]
[[director.virtual_service]]
name = "web6-vip"
address = "2001:db8::100"
port = 80
service = "web6"

[[director.virtual_service]]
name = "marked"
fwmark = 7
service = "any"
`;

/** A dataplane that holds what it is given. */
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

/** The director's POST route at `path`, called as the API calls it. */
async function post(director: ModuleInstance, path: string): Promise<Response> {
  for (const route of director.routes!()) {
    const params = route.method === "post" ? matchPath(route.path, path) : null;
    if (params) return route.handler(undefined as never, params);
  }
  throw new Error(`no route for ${path}`);
}

/** A member's config: service "web" of one server, checked as `check` says, behind web-vip (198.18.1.100:80). */
const webVip = (cluster: string, server: string, check: string, more = "") =>
  memberConfig(
    cluster,
    `[[services]]
name = "web"
servers = [${server}]
check = ${check}

[director]
[[director.virtual_service]]
name = "web-vip"
address = "198.18.1.100"
port = 80
service = "web"
${more}`,
  );

const realOf = (plane: HeldDataplane, vs: string, address: string) => plane.held.find((v) => v.key === vs)?.reals.find((r) => r.address === address);

describe("the director's drain", () => {
  test("of [2001:db8::1]:80 and of a server without a port is applied: weight 0 in the dataplane, the others untouched; enable gives it back", async () => {
    const cfg = memberConfig("drain", SECTIONS);
    const plane = new HeldDataplane();
    const services = new Services();
    const checks = checksModule.create(testContext(cfg, "alpha", services));
    await checks.start(cfg);
    const director = new DirectorService(testContext(cfg, "alpha", services), plane);
    await director.start(cfg);
    try {
      expect(realOf(plane, "tcp:[2001:db8::100]:80", "2001:db8::1")).toMatchObject({ port: 80, weight: 1 });
      expect(realOf(plane, "fwmark:7", "198.18.1.101")).toMatchObject({ port: 0, weight: 1 });

      const six = await post(director, `/servers/web6/${encodeURIComponent("[2001:db8::1]:80")}/drain`);
      expect(six.status).toBe(200);
      const bare = await post(director, "/servers/any/198.18.1.101/drain");
      expect(bare.status).toBe(200);
      await waitFor("both drained in the dataplane", () => (realOf(plane, "tcp:[2001:db8::100]:80", "2001:db8::1")?.weight === 0 && realOf(plane, "fwmark:7", "198.18.1.101")?.weight === 0 ? true : undefined), 2000);
      expect(realOf(plane, "tcp:[2001:db8::100]:80", "2001:db8::2")?.weight).toBe(1);
      expect(realOf(plane, "fwmark:7", "198.18.1.102")?.weight).toBe(1);
      const views = director.status().virtualServices as Array<{ servers: Array<{ key: string; weight: number | null; override: number | null }> }>;
      expect(views.flatMap((v) => v.servers).filter((s) => s.override === 0).map((s) => [s.key, s.weight])).toEqual([
        ["web6/[2001:db8::1]:80", 0],
        ["any/198.18.1.101", 0],
      ]);

      expect((await post(director, "/servers/web6/2001:db8::1:80/drain")).status).toBe(404);
      expect((await post(director, `/servers/web6/${encodeURIComponent("[2001:db8::1]:80")}/enable`)).status).toBe(200);
      await waitFor("enabled again", () => (realOf(plane, "tcp:[2001:db8::100]:80", "2001:db8::1")?.weight === 1 ? true : undefined), 2000);
    } finally {
      await director.stop();
      await checks.stop();
    }
  });
});

describe("the director's checks subscription", () => {
  test("follows the checks module when a reload stopped it and started another: the new one checks for it, its health reaches the dataplane, the old one is left", async () => {
    // alpha: a server counts as down until the checks the director subscribed to say otherwise.
    const cfg = webVip("follow", '{ address = "198.18.1.101", port = 80 }', '{ kind = "none", interval = "100ms" }', "alpha = true\n");
    const plane = new HeldDataplane();
    const services = new Services();
    const ctx = testContext(cfg, "alpha", services);
    const heard: unknown[] = [];
    ctx.events.subscribe((e) => void (e.type === "director.server" && heard.push(e.data)));
    const first = checksModule.create(testContext(cfg, "alpha", services));
    await first.start(cfg);
    const director = new DirectorService(ctx, plane);
    await director.start(cfg);
    const inPlane = () => (realOf(plane, "tcp:198.18.1.100:80", "198.18.1.101")?.weight === 1 ? true : undefined);
    const consumers = (m: ModuleInstance) => (m.status!() as { consumers: number }).consumers;
    let second: ModuleInstance | null = null;
    try {
      await waitFor("the server up through the first checks", inPlane, 3000);
      expect(consumers(first)).toBe(1);

      // What the runtime does on a reload that stopped the checks module and on one that started it again: the director stays.
      await first.stop();
      second = checksModule.create(testContext(cfg, "alpha", services));
      await second.start(cfg);
      heard.length = 0;
      await director.reload(cfg);
      expect(consumers(second)).toBe(1);
      await waitFor("the new checks' judgement heard", () => heard[0], 3000);
      expect(heard[0]).toMatchObject({ key: "web/198.18.1.101:80", state: "up", healthy: true });
      await waitFor("the server up through the new checks", inPlane, 3000);

      await director.stop();
      expect(consumers(second)).toBe(0);
    } finally {
      await director.stop();
      await second?.stop();
    }
  });
});


/**
 * A dataplane whose reconciles of a desired state the gate holds wait until it opens: what a slow kernel does to
 * the order of things. Other reconciles pass, so one of the state before (a check's repeated verdict, the periodic
 * repair) cannot stand in front of the held one (the director runs one reconcile at a time).
 */
class GatedDataplane extends HeldDataplane {
  private gate: { holds: (desired: VirtualService[]) => boolean; opened: Promise<void>; open: () => void } | null = null;
  /** The desired state of each reconcile that is waiting. */
  waiting: VirtualService[][] = [];
  close(holds: (desired: VirtualService[]) => boolean): void {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    this.gate = { holds, opened, open };
  }
  open(): void {
    this.gate?.open();
    this.gate = null;
    this.waiting = [];
  }
  override async reconcile(desired: VirtualService[]) {
    const gate = this.gate;
    if (gate?.holds(desired)) {
      this.waiting.push(desired);
      await gate.opened;
    }
    return super.reconcile(desired);
  }
}

describe("the director's view (what the routing module announces)", () => {
  test("a virtual service is up there only once the dataplane holds its server, and down before the dataplane drops it", async () => {
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const cfg = webVip("shown", `{ address = "127.0.0.1", port = ${server.port} }`, '{ kind = "tcp", interval = "100ms", timeout = "200ms", rise = 1, fall = 1 }');
    const plane = new GatedDataplane();
    const services = new Services();
    const checks = checksModule.create(testContext(cfg, "alpha", services));
    await checks.start(cfg);
    const director = new DirectorService(testContext(cfg, "alpha", services), plane);
    const served = (desired: VirtualService[] | undefined) => desired?.find((v) => v.key === "tcp:198.18.1.100:80")?.reals.some((r) => r.weight > 0) === true;
    const down = (desired: VirtualService[]) => !served(desired);
    plane.close(served);
    const starting = director.start(cfg);
    try {
      const watch = await waitFor("the director's service offered", () => services.get("director"), 3000);
      const told: Array<{ up: boolean | undefined; inPlane: boolean }> = [];
      watch.watch(() => told.push({ up: watch.view().up["web-vip"], inPlane: served(plane.held) }));
      await waitFor("a reconcile with the server up, held at the gate", () => (plane.waiting.length > 0 ? true : undefined), 3000);
      expect(watch.view().up["web-vip"]).not.toBe(true);
      plane.open();
      await starting;
      await waitFor("up once the dataplane holds the server", () => (watch.view().up["web-vip"] === true ? true : undefined), 3000);
      expect(served(plane.held)).toBe(true);

      plane.close(down);
      server.stop(true);
      await waitFor("a reconcile with the server down, held at the gate", () => (plane.waiting.length > 0 ? true : undefined), 3000);
      expect(watch.view().up["web-vip"]).toBe(false);
      expect(served(plane.held)).toBe(true);
      plane.open();
      await waitFor("the server out of the dataplane", () => (served(plane.held) ? undefined : true), 3000);
      expect(told.filter((t) => t.up === true).every((t) => t.inPlane)).toBe(true);
      expect(told.at(-1)).toEqual({ up: false, inPlane: true });
    } finally {
      plane.open();
      await starting;
      await director.stop();
      await checks.stop();
      server.stop(true);
    }
  });
});
