/**
 * The appliance boots: one VM by direct kernel boot (qemu, software emulation
 * unless TANDEM_QEMU_ACCEL=kvm), user-mode networking with only its API
 * forwarded to 127.0.0.1, a config disk with a single-node config: a group
 * with a virtual address, Debian's OCF Dummy agent and the director on the
 * IPVS dataplane (generic netlink) over one real server, this test's HTTP
 * server reached through qemu's gateway. Checked through the API and the
 * console: the node runs, the address and Dummy are started, the director
 * sees the server healthy and programmed
 * IPVS, which reads back unchanged at the next reconcile; at the console's
 * shell, /proc/net/ip_vs holds the virtual service and its real server.
 * With a data disk: a standby asked through the API survives a power cut and
 * a boot, and online ends it. Prints the boot times.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { boot, buildMissing, clusterKey, configDisk, dataDisk, ensureImage, imageStale, qemuMissing, TEST_CONSOLE, type Vm } from "../../appliance/vm.ts";
import { freePort, tempDir, waitFor } from "../helpers.ts";
import { parseProcIpVs } from "./proc-ip-vs.ts";

const why = qemuMissing() ?? (imageStale() ? buildMissing() : undefined);
if (why) console.log(`skip: appliance boot: ${why}`);

/** Bound on the whole boot (qemu start to the API answering running) under emulation; measured ~20 s. */
const BOOT_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;
/** qemu's user network: the guest's address is fixed by the config; the gateway is the host's loopback. */
const GUEST = "198.18.5.11";
const GATEWAY = "198.18.5.2";
const VIP = "198.18.5.50";
const TOKEN = "appliance-boot-test-token";

/** A JSON answer of the node's API (its shape is the API's, checked by the API's own tests). */
type Json = any;

async function get(url: string): Promise<Json> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function config(serverPort: number): string {
  return `cluster = "solo"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "${GUEST}"
roles = ["member"]

[heartbeat]
interval = "200ms"
deadtime = "2s"
initdead = "4s"

[[heartbeat.links]]
name = "lan"
kind = "ucast"

[api]
port = 9480
token_file = "api.token"
# The test's POSTs reach the guest through qemu's user network (hostfwd): their peer there is the gateway, off loopback.
insecure_http = true

[resources]

[[resources.group]]
name = "web"
members = ["vip", "dummy", "director"]
preferred = "alpha"

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${VIP}/24", interface = "eth0" }

[[resources.resource]]
name = "dummy"
agent = "ocf:heartbeat:Dummy"

[[resources.resource]]
name = "director"
agent = "director"
monitor_interval = "5s"

[[services]]
name = "web"
port = ${serverPort}
servers = [{ address = "${GATEWAY}" }]
check = { kind = "http", path = "/", interval = "1s", timeout = "2s", rise = 1, fall = 2 }

[director]
dataplane = "ipvs"

[[director.virtual_service]]
name = "web-vip"
address = "${VIP}"
port = 80
service = "web"
scheduler = "rr"
`;
}

describe.skipIf(why !== undefined)("appliance boot", () => {
  const tmp = why ? undefined : tempDir("appliance");
  let vm: Vm | undefined;
  let server: ReturnType<typeof Bun.serve> | undefined;
  let api = "";
  let port = 0;
  let boots = 0;

  let key = "";
  /** The config disk, appliance.conf ending with `extra`. */
  const writeConfigDisk = (extra: string): void => {
    const dir = tmp!.dir;
    key ||= clusterKey(dir);
    configDisk(join(dir, "config.img"), {
      "tandem.toml": config(server!.port!),
      "cluster.key": key,
      "api.token": `${TOKEN}\n`,
      "appliance.conf": `node=alpha\nip=eth0:${GUEST}/24\ngw=${GATEWAY}\nlog=console\n${extra}`,
    }, dir);
  };

  /** Boots the VM on this test's disks and waits until its API answers running; the time that took. */
  const start = async (o: { password: boolean } = { password: true }): Promise<number> => {
    vm = boot({
      name: "tandem-boot-test",
      configDisk: join(tmp!.dir, "config.img"),
      dataDisk: join(tmp!.dir, "data.img"),
      ...(o.password ? { password: TEST_CONSOLE.password } : {}),
      console: join(tmp!.dir, `console-${++boots}.log`),
      net: ["-netdev", `user,id=n0,net=198.18.5.0/24,host=${GATEWAY},hostfwd=tcp:127.0.0.1:${port}-${GUEST}:9480`, "-device", "virtio-net-pci,netdev=n0"],
    });
    await waitFor("the node's API to answer running", async () => {
      return (await get(`${api}/v1/status`)).phase === "running" ? true : undefined;
    }, BOOT_TIMEOUT_MS, 500).catch((e) => {
      throw new Error(`${e.message}\n--- console ---\n${vm!.console().slice(-3000)}`);
    });
    return Date.now() - vm.startedAt;
  };

  beforeAll(async () => {
    ensureImage();
    const dir = tmp!.dir;
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("real server\n") });
    writeConfigDisk(`password_hash=${TEST_CONSOLE.hash}\n`);
    dataDisk(join(dir, "data.img"));
    port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const bootMs = await start();
    console.log(`appliance: boot to running in ${(bootMs / 1000).toFixed(1)} s (qemu start to the API answering)`);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await vm?.kill();
    server?.stop(true);
    tmp?.cleanup();
  });

  test("/healthz answers and the node runs", async () => {
    expect((await fetch(`${api}/healthz`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    const s = await get(`${api}/v1/status`);
    expect(s.node).toBe("alpha");
    expect(s.phase).toBe("running");
  });

  test("the virtual address and Debian's OCF Dummy agent (busybox's shell runs it) are started", async () => {
    const states = await waitFor("vip and dummy started", async () => {
      const r = (await get(`${api}/v1/status`)).modules?.resources?.resources;
      return r?.vip?.states?.alpha === "started" && r?.dummy?.states?.alpha === "started" ? r : undefined;
    }, 30_000, 500);
    expect(states.dummy.states).toEqual({ alpha: "started" });
  }, 40_000);

  test("the director is active, sees the real server healthy and programmed the kernel", async () => {
    const d = await waitFor("the director to program the real server", async () => {
      const d = await get(`${api}/v1/director/`);
      const vs = d.virtualServices?.[0];
      const sv = vs?.servers?.[0];
      return d.active && sv?.healthy && sv?.weight > 0 && !d.reconcile?.error ? d : undefined;
    }, 60_000, 1_000).catch(async (e) => {
      throw new Error(`${e.message}\n${JSON.stringify(await get(`${api}/v1/director/`))}`);
    });
    expect(d.dataplane).toBe("ipvs");
    // The director reconciles again within RECONCILE_EVERY_MS: reading IPVS back through generic netlink
    // must give what was programmed, or that reconcile would have changes to make.
    const again = await waitFor("a later reconcile with nothing to change", async () => {
      const later = await get(`${api}/v1/director/`);
      return later.reconcile && later.reconcile.at > d.reconcile.at ? later.reconcile : undefined;
    }, 20_000, 1_000);
    expect(again).toMatchObject({ changes: 0, error: null });
  }, 70_000);

  test("the console asks for a login: a wrong password gets no shell, the right one does; the data disk is mounted nosuid,nodev,noexec", async () => {
    await vm!.waitConsole(/console: login as root/, 10_000);
    expect(await vm!.login("not-the-password", 30_000)).toBe(false);
    const mounts = await vm!.shell("grep ' /var/lib/tandem ' /proc/mounts", 30_000);
    expect(mounts).toMatch(/ \/var\/lib\/tandem ext4 \S*\bnosuid\b/);
    expect(mounts).toMatch(/\bnodev\b/);
    expect(mounts).toMatch(/\bnoexec\b/);
  }, 70_000);

  test("the stock kernel has ip_vs; at the console, /proc/net/ip_vs holds the service; the console shows the node's state and dashboard", async () => {
    expect(vm!.console()).toMatch(/ip_vs: IP Virtual Server version/);
    await vm!.waitConsole(new RegExp(`node alpha running; dashboard http://${GUEST.replaceAll(".", "\\.")}:9480/`), 20_000);
    const table = parseProcIpVs(await vm!.shell("cat /proc/net/ip_vs", 20_000));
    expect(table).toEqual([{ protocol: "TCP", address: `${VIP}:80`, scheduler: "rr", servers: [{ address: `${GATEWAY}:${server!.port}`, forward: "Masq", weight: 1 }] }]);
  }, 50_000);

  test("a standby survives a power cut (on the data disk); online starts the address again", async () => {
    expect(vm!.console()).toMatch(/data disk \/dev\/vd[a-z] on \/var\/lib\/tandem/);
    const resources = async (): Promise<Json> => (await get(`${api}/v1/resources/`));
    const vipState = async () => (await resources()).resources?.vip?.states?.alpha;
    const post = async (path: string) => {
      const r = await fetch(`${api}${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5_000) });
      expect(r.status).toBe(202);
    };
    /** A wait that failed, with what the node said and the console's end, so a failure says where it stuck. */
    const why = async (e: Error): Promise<never> => {
      const said = await resources().then((r) => JSON.stringify(r), (f: Error) => `no answer: ${f.message}`);
      throw new Error(`${e.message}\n/v1/resources/: ${said}\n--- console ---\n${vm!.console().slice(-3000)}`);
    };
    await post("/v1/resources/standby/alpha");
    await waitFor("the address stopped for the standby", async () => ((await vipState()) === "stopped" ? true : undefined), 30_000, 500).catch(why);
    await vm!.kill();
    // The next boot has no console password: status only.
    writeConfigDisk("");
    const bootMs = await start({ password: false });
    console.log(`appliance: after a power cut, boot to running in ${(bootMs / 1000).toFixed(1)} s`);
    const after = await resources();
    expect(after.standby).toEqual(["alpha"]);
    await waitFor("the address probed stopped", async () => ((await vipState()) === "stopped" ? true : undefined), 20_000, 500).catch(why);
    await post("/v1/resources/online/alpha");
    await waitFor("the address started again", async () => ((await vipState()) === "started" ? true : undefined), 30_000, 500).catch(why);
    expect((await resources()).standby).toEqual([]);
    // Without a password the console gives the status on Enter and runs nothing typed.
    expect(vm!.console()).toMatch(/console: no password_hash in appliance.conf: status only, no shell/);
    await expect(vm!.shell("echo ran", 10_000)).rejects.toThrow("gave no answer");
    await vm!.waitConsole(/echo tandem-shell-\d+:b''egin; echo ran;[^\n]*\n[\s\S]*tandem-appliance: now: node alpha running/, 10_000);
    expect(vm!.console()).not.toMatch(/\nran\r?\n/);
  }, BOOT_TIMEOUT_MS + 110_000);
});
