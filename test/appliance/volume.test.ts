/**
 * The kernel's NBD device in the appliance (Debian's stock kernel, whose
 * nbd module the image loads): one VM, alpha, with a volume (peer bravo
 * absent) whose backing file is on the data disk and `device = "/dev/nbd0"`.
 * Promoted with force through the API, alpha serves the volume on its
 * socket and attaches /dev/nbd0 to it (generic netlink, NBD_CMD_CONNECT)
 * before it answers; at the console the kernel shows the device's size;
 * mke2fs (busybox's: the image has no e2fsprogs) writes a filesystem of 4 KiB
 * blocks (the device's logical block size)
 * through it, the ext4 driver mounts it, a file is written and read back
 * across an unmount and a new mount. A demotion while it is mounted is
 * refused (409) and leaves it attached; after the unmount the demotion
 * detaches it (NBD_CMD_DISCONNECT: size 0 again) and the volume is
 * secondary. The bytes of the file are then in the backing file on the
 * data disk, read from the host after the VM is powered off.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { boot, buildMissing, clusterKey, configDisk, ensureImage, imageStale, qemuMissing, TEST_CONSOLE, type Vm } from "../../appliance/vm.ts";
import { metadataBytes } from "../../modules/replication/metadata.ts";
import { freePort, tempDir, waitFor } from "../helpers.ts";

const why = qemuMissing() ?? (imageStale() ? buildMissing() : undefined) ?? (spawnSync("debugfs", ["-V"]).error ? "needs debugfs (Debian: e2fsprogs)" : undefined);
if (why) console.log(`skip: appliance volume: ${why}`);

const BOOT_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 180_000;
const GUEST = "198.18.5.11";
const GATEWAY = "198.18.5.2";
const TOKEN = "appliance-volume-test-token";
/** The volume: 32 MiB, its backing file on the data disk (internal metadata after the data). */
const SIZE = 32 << 20;
const BACKING = "/var/lib/tandem/data.img";
/** What the test writes through the mounted filesystem. */
const CONTENT = "written through /dev/nbd0 on the appliance";

type Json = any;

const config = `cluster = "repl-appliance"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "${GUEST}"
roles = ["member"]

[[nodes]]
name = "bravo"
address = "198.18.5.12"
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
insecure_http = true

[[volumes]]
name = "data"
size = "32M"
port = 7789
device = "/dev/nbd0"
on = [{ node = "alpha", device = "${BACKING}" }, { node = "bravo", device = "${BACKING}" }]
`;

describe.skipIf(why !== undefined)("appliance: a volume on the kernel's /dev/nbd0", () => {
  const tmp = why ? undefined : tempDir("appliance-repl");
  let vm: Vm | undefined;
  let api = "";

  const get = async (path: string): Promise<Json> => {
    const r = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(5_000) });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  };
  const post = async (path: string): Promise<{ status: number; body: Json }> => {
    const r = await fetch(`${api}${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(15_000) });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const volume = async (): Promise<Json> => (await get("/v1/replication/volumes")).volumes?.[0];
  const sh = (command: string) => vm!.shell(command, 60_000);

  beforeAll(async () => {
    ensureImage();
    const dir = tmp!.dir;
    configDisk(join(dir, "config.img"), {
      "tandem.toml": config,
      "cluster.key": clusterKey(dir),
      "api.token": `${TOKEN}\n`,
      "appliance.conf": `node=alpha\nip=eth0:${GUEST}/24\ngw=${GATEWAY}\nlog=console\npassword_hash=${TEST_CONSOLE.hash}\n`,
    }, dir);
    // The data disk holds the volume's backing file: the volume's bytes and room for its metadata.
    const files = join(dir, "data");
    mkdirSync(files);
    writeFileSync(join(files, "data.img"), "");
    truncateSync(join(files, "data.img"), SIZE + metadataBytes({ size: SIZE, regionBytes: 4096 }));
    const disk = join(dir, "data-disk.img");
    writeFileSync(disk, "");
    truncateSync(disk, 96 << 20);
    const mk = spawnSync("mkfs.ext4", ["-q", "-F", "-L", "TANDEMDATA", "-d", files, disk], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin` } });
    if (mk.status !== 0) throw new Error(`mkfs.ext4: ${mk.stderr}`);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    vm = boot({
      name: "tandem-repl-volume-test",
      configDisk: join(dir, "config.img"),
      dataDisk: disk,
      password: TEST_CONSOLE.password,
      console: join(dir, "console.log"),
      net: ["-netdev", `user,id=n0,net=198.18.5.0/24,host=${GATEWAY},hostfwd=tcp:127.0.0.1:${port}-${GUEST}:9480`, "-device", "virtio-net-pci,netdev=n0"],
    });
    await waitFor("the volume on alpha", async () => ((await volume())?.name === "data" ? true : undefined), BOOT_TIMEOUT_MS, 500).catch((e) => {
      throw new Error(`${e.message}\n--- console ---\n${vm!.console().slice(-3000)}`);
    });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await vm?.kill();
    tmp?.cleanup();
  });

  test("promoted, alpha attaches /dev/nbd0 before it answers; mke2fs, mount, write, unmount, mount again and read; a demotion refused while mounted, then detaching", async () => {
    const promoted = await post("/v1/replication/volumes/data/promote-force");
    expect([promoted.status, promoted.body]).toEqual([200, expect.anything()]);
    // The status is the replication thread's, asked every second.
    await waitFor("alpha primary in its status", async () => ((await volume())?.role === "primary" ? true : undefined), 10_000, 500);
    expect(await volume()).toMatchObject({ role: "primary", disk: "up-to-date" });
    // The kernel's view of the device: 32 MiB in 512-byte sectors.
    expect((await sh("cat /sys/block/nbd0/size")).trim()).toBe(String(SIZE / 512));
    expect(await sh("mke2fs -q -b 4096 /dev/nbd0 && echo made")).toContain("made");
    expect(await sh(`mkdir -p /tmp/data && mount -t ext4 /dev/nbd0 /tmp/data && echo '${CONTENT}' > /tmp/data/hello && sync && umount /tmp/data && echo unmounted`)).toContain("unmounted");
    expect(await sh("mount -t ext4 /dev/nbd0 /tmp/data && cat /tmp/data/hello")).toContain(CONTENT);
    // Mounted: the demotion is refused, the device stays.
    const refused = await post("/v1/replication/volumes/data/demote");
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.body)).toContain("in use");
    expect((await sh("cat /sys/block/nbd0/size")).trim()).toBe(String(SIZE / 512));
    expect(await sh("umount /tmp/data && echo unmounted")).toContain("unmounted");
    const demoted = await post("/v1/replication/volumes/data/demote");
    expect(demoted.status).toBe(200);
    await waitFor("alpha secondary in its status", async () => ((await volume())?.role === "secondary" ? true : undefined), 10_000, 500);
    await waitFor("/dev/nbd0 detached", async () => ((await sh("cat /sys/block/nbd0/size")).trim() === "0" ? true : undefined), 20_000, 1_000);
  }, TEST_TIMEOUT_MS);

  test("the file is in the backing file on the data disk, read from the host after a clean power-off", async () => {
    // In the background, a second on: the shell's end marker is out before init's SIGKILL (a plain poweroff raced it).
    await sh("(sleep 1; poweroff) >/dev/null 2>&1 & :");
    await vm!.exited;
    const dir = tmp!.dir;
    const out = join(dir, "backing.img");
    const dump = spawnSync("debugfs", ["-R", `dump /data.img ${out}`, join(dir, "data-disk.img")], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin` } });
    expect(dump.status).toBe(0);
    expect(readFileSync(out).subarray(0, SIZE).includes(Buffer.from(CONTENT))).toBe(true);
  }, 60_000);
});
