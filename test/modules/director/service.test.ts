/**
 * The director's shell over a dataplane of the test's: the admin's drain,
 * through the director's routes as the API calls them, reaches the dataplane's
 * desired state for an IPv6 server and for a server without a port (keys as
 * core/net/address.ts writes them); and its subscription, which follows a
 * checks module started again by a reload.
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
    const cfg = memberConfig(
      "follow",
      `[[services]]
name = "web"
servers = [{ address = "198.18.1.101", port = 80 }]
check = { kind = "none", interval = "100ms" }

[director]
[[director.virtual_service]]
name = "web-vip"
address = "198.18.1.100"
port = 80
service = "web"
alpha = true
`,
    );
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

