/**
 * A replicated volume failing over in the appliance pair (appliance/pair.ts:
 * two VMs on the stock Debian kernel, its nbd module). The volume `data`
 * (32 MiB, `device = "/dev/nbd0"`, its backing file on each node's data
 * disk) runs as the promotable clone `vol` (agent `volume`); the group `svc`
 * runs with its promoted side, after the promotion: Debian's
 * `ocf:heartbeat:Filesystem` (device /dev/nbd0, directory /mnt/data, ext4;
 * run by busybox's shell) and an address. alpha's backing file holds an ext4
 * file system made on the host (mkfs.ext4 -b 4096, once), bravo's is zeros.
 * The volumes are new, so nothing is promoted and svc waits until the first
 * promotion is forced on alpha through its API (promote-force, as `drbdadm
 * primary --force`); then the manager keeps alpha promoted and starts svc
 * there: the file system mounted on /mnt/data at alpha's console. bravo
 * resyncs (up to date). Files are written through the mount at alpha's
 * console and synced; alpha's VM is powered off (qemu killed). bravo declares
 * alpha dead, counts it fenced by its watchdog, promotes its volume (attaching
 * its /dev/nbd0), mounts the file system and holds the address; at bravo's
 * console the files read back byte for byte. Prints the times. Needs root and
 * qemu; skips with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LAN, pairConfig, pairMissing, startPair, TIMERS, WATCHDOG_TIMEOUT_MS, waitRunning, type Node, type Pair } from "../../appliance/pair.ts";
import { buildMissing, ensureImage, imageStale, qemuMissing } from "../../appliance/vm.ts";
import { metadataBytes } from "../../modules/replication/metadata.ts";
import { tempDir, waitFor } from "../helpers.ts";
import { promotedVolume } from "../lab/config.ts";

/**
 * Run only when asked (TANDEM_APPLIANCE_VOLUME=1): it takes 40 to 180 s (two VMs booting under emulation),
 * more than npm test's budget has left. The kernel attach no longer starves behind the first resync (the resync
 * waits for it), and a resync the link cuts resumes where it stopped; on a host loaded past its cores (four
 * emulated VMs on two) some runs still fail outside the replication: a heartbeat stall past the deadtime drops
 * quorum (a survivor alone then lets its watchdog reset it).
 */
const ASKED = process.env.TANDEM_APPLIANCE_VOLUME === "1";
const why = ASKED
  ? (qemuMissing() ?? pairMissing() ?? (imageStale() ? buildMissing() : undefined))
  : "not asked for (TANDEM_APPLIANCE_VOLUME=1): two emulated VMs, 40 to 180 s";
if (why) console.log(`skip: appliance volume pair: ${why}`);

/** Both VMs booting at once on two loaded host cores under emulation. */
const BOOT_TIMEOUT_MS = 120_000;
/** Detection (deadtime), the watchdog's fencing wait (twice its timeout), the promotion and the group's start on bravo. */
const FAILOVER_TIMEOUT_MS = 60_000;
const SIZE = 32 << 20;
const BACKING = "/var/lib/tandem/data.img";
const MOUNT = "/mnt/data";
const SVC_ADDR = `${LAN}60`;
const CONTENT = "written on alpha through /mnt/data";

type Json = any;

/** The pair's cluster, its watchdog fence device, and this volume, clone and group instead of the director's. */
function config(): string {
  const [base] = pairConfig().split("[[resources.group]]");
  return `${base}
[[resources.group]]
name = "svc"
members = ["fs", "addr"]
preferred = "alpha"

[[resources.resource]]
name = "fs"
agent = "ocf:heartbeat:Filesystem"
params = { device = "/dev/nbd0", directory = "${MOUNT}", fstype = "ext4" }
monitor_interval = "5s"

[[resources.resource]]
name = "addr"
agent = "address"
params = { address = "${SVC_ADDR}/24", interface = "eth0" }
monitor_interval = "2s"
${promotedVolume("svc")}
[[volumes]]
name = "data"
size = "32M"
port = 7789
device = "/dev/nbd0"
on = [{ node = "alpha", device = "${BACKING}" }, { node = "bravo", device = "${BACKING}" }]
`;
}

/** A TANDEMDATA disk holding the volume's backing file; with an ext4 file system in its data when `formatted`. */
function dataDisk(dir: string, node: Node, formatted: boolean): string {
  const env = { ...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin` };
  const files = join(dir, `${node}-files`);
  mkdirSync(files);
  const backing = join(files, "data.img");
  writeFileSync(backing, "");
  truncateSync(backing, SIZE);
  if (formatted) {
    const fs = spawnSync("mkfs.ext4", ["-q", "-F", "-b", "4096", backing], { encoding: "utf8", env });
    if (fs.status !== 0) throw new Error(`mkfs.ext4 (the volume's file system): ${fs.stderr}`);
  }
  truncateSync(backing, SIZE + metadataBytes({ size: SIZE, regionBytes: 4096 }));
  const disk = join(dir, `${node}-data.img`);
  writeFileSync(disk, "");
  truncateSync(disk, 96 << 20);
  const mk = spawnSync("mkfs.ext4", ["-q", "-F", "-L", "TANDEMDATA", "-d", files, disk], { encoding: "utf8", env });
  if (mk.status !== 0) throw new Error(`mkfs.ext4 (the data disk): ${mk.stderr}`);
  return disk;
}

describe.skipIf(why !== undefined)("appliance pair: a replicated volume with a file system, failing over", () => {
  const tmp = why ? undefined : tempDir("volapp-pair");
  let pair: Pair | undefined;

  const states = async (node: Node, resource: string): Promise<Record<string, string> | undefined> => (await pair!.api(node, "/v1/resources/"))?.resources?.[resource]?.states;
  const volume = async (node: Node): Promise<Json> => (await pair!.api(node, "/v1/replication/volumes"))?.volumes?.[0];
  const sh = (node: Node, command: string) => pair!.vms[node]!.shell(command, 60_000);
  /** What each console said of the volume, its device and the group's members (the monitors' routine lines left out). */
  const consoles = () => (["alpha", "bravo"] as const).map((n) => {
    const said = (pair!.vms[n]?.console() ?? "").split("\n").filter((l) => /volume\.(role|device|refused)|resources\.(fence|notes)|EXT4|action=(start|stop|promote|demote)/.test(l));
    return `--- ${n} console (volume, device, group) ---\n${said.slice(-60).join("\n")}`;
  }).join("\n");
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

  beforeAll(async () => {
    ensureImage();
    const dataDisks = { alpha: dataDisk(tmp!.dir, "alpha", true), bravo: dataDisk(tmp!.dir, "bravo", false) };
    pair = startPair({ config: config(), dataDisks, name: "volapp" });
    const times = await waitRunning(pair, BOOT_TIMEOUT_MS);
    console.log(`appliance volume pair: running: alpha in ${s(times.alpha)}, bravo in ${s(times.bravo)}`);
  }, BOOT_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    // TANDEM_KEEP_CONSOLES=DIR keeps both consoles whole (the failures print only their tails).
    const keep = process.env.TANDEM_KEEP_CONSOLES;
    if (keep && pair) for (const node of ["alpha", "bravo"] as const) writeFileSync(join(keep, `${node}.console`), pair.vms[node]?.console() ?? "");
    await pair?.stop();
    tmp?.cleanup();
  }, 30_000);

  test("new volumes: both instances run unpromoted, nothing is promoted, and svc waits", async () => {
    await waitFor("both instances started", async () => {
      const st = await states("alpha", "vol");
      return st?.alpha === "started" && st?.bravo === "started" ? true : undefined;
    }, 60_000, 500);
    await waitFor("the volumes connected", async () => ((await volume("alpha"))?.connection === "connected" ? true : undefined), 60_000, 500);
    // The volumes' link comes up on its own: the plan below is the cluster's once alpha's heartbeat hears bravo and holds quorum.
    await waitFor("alpha quorate with bravo up", async () => {
      const h = (await pair!.api("alpha", "/v1/status"))?.modules?.heartbeat;
      return h?.quorate && h.peers?.bravo?.status === "up" ? true : undefined;
    }, 60_000, 500);
    const r = await pair!.api("alpha", "/v1/resources/");
    expect(r.notes.join("\n")).toContain("vol is promoted nowhere");
    expect(Object.values(r.resources.fs.states)).not.toContain("started");
    expect(Object.values(r.resources.addr.states)).not.toContain("started");
  }, 150_000);

  test("the first promotion forced on alpha: /dev/nbd0 attached, the file system mounted on /mnt/data and the address up there; bravo resyncs", async () => {
    const forcedAt = Date.now();
    const forced = await pair!.post("alpha", "/v1/replication/volumes/data/promote-force", 30_000);
    // 504: the API's bound on the control plane (5 s) passed first, the command going on (the attach, in a VM starved
    // by a loaded host): the promotion shows in the volume's status, and svc's start below needs the device attached.
    if (forced === 504) await waitFor("alpha primary", async () => ((await volume("alpha"))?.role === "primary" ? true : undefined), 30_000, 500);
    else if (forced !== 200) throw new Error(`promote-force on alpha: HTTP ${forced}\nalpha: ${JSON.stringify(await volume("alpha"))}\nbravo: ${JSON.stringify(await volume("bravo"))}\n${consoles()}`);
    await waitFor("svc on alpha", async () => ((await states("alpha", "addr"))?.alpha === "started" ? true : undefined), 60_000, 500).catch((e) => {
      throw new Error(`${e.message}\n${consoles()}`);
    });
    const svcAt = Date.now();
    expect(await states("alpha", "vol")).toEqual({ alpha: "promoted", bravo: "started" });
    expect(await states("alpha", "fs")).toMatchObject({ alpha: "started" });
    // The console carries tandem's log lines too: the answer is matched as a line of its own.
    expect(await sh("alpha", "cat /sys/block/nbd0/size")).toMatch(new RegExp(`^${SIZE / 512}$`, "m"));
    expect(await sh("alpha", `grep ' ${MOUNT} ' /proc/mounts`)).toMatch(new RegExp(`^/dev/nbd0 ${MOUNT} ext4 `, "m"));
    await waitFor("bravo up to date", async () => {
      const v = await volume("bravo");
      return v?.disk === "up-to-date" && v?.connection === "connected" ? true : undefined;
    }, 180_000, 1_000);
    console.log(`appliance volume pair: promote-force on alpha to svc started there ${s(svcAt - forcedAt)}; bravo up to date after ${s(Date.now() - forcedAt)}`);
  }, 300_000);

  test("files written through the mount on alpha; alpha powered off: bravo promotes, mounts and serves the same files, and holds the address", async () => {
    const written = await sh("alpha", `echo '${CONTENT}' > ${MOUNT}/hello && dd if=/dev/urandom of=${MOUNT}/blob bs=4096 count=256 2>/dev/null && sync && md5sum ${MOUNT}/blob`);
    const sum = /^([0-9a-f]{32}) /m.exec(written)?.[1];
    expect(sum).toBeDefined();
    await pair!.powerCut("alpha");
    const cutAt = Date.now();
    await waitFor("svc on bravo", async () => ((await states("bravo", "addr"))?.bravo === "started" ? true : undefined), FAILOVER_TIMEOUT_MS, 500).catch((e) => {
      throw new Error(`${e.message}\n${consoles()}`);
    });
    const svcAt = Date.now();
    const r = await pair!.api("bravo", "/v1/resources/");
    expect(r.resources.vol.states.bravo).toBe("promoted");
    expect(r.resources.fs.states.bravo).toBe("started");
    expect(r.nodes.find((n: Json) => n.name === "alpha").fence).toBe("fenced");
    expect((await volume("bravo"))?.role).toBe("primary");
    expect(await sh("bravo", `grep ' ${MOUNT} ' /proc/mounts`)).toMatch(new RegExp(`^/dev/nbd0 ${MOUNT} ext4 `, "m"));
    expect(await sh("bravo", `cat ${MOUNT}/hello`)).toContain(CONTENT);
    expect(await sh("bravo", `md5sum ${MOUNT}/blob`)).toContain(sum!);
    expect(await sh("bravo", "ip addr show eth0")).toContain(`${SVC_ADDR}/24`);
    console.log(`appliance volume pair: alpha powered off; svc (volume promoted, file system mounted, address) on bravo after ${s(svcAt - cutAt)} (deadtime ${s(TIMERS.deadtime)} + watchdog fencing ${s(2 * WATCHDOG_TIMEOUT_MS)})`);
  }, FAILOVER_TIMEOUT_MS + 120_000);
});
