/**
 * The ISO boots as an operator would boot it: from a CD under a BIOS
 * (SeaBIOS: isolinux, then the kernel and initrd) and from a disk under UEFI
 * (OVMF: the unified kernel image as EFI/BOOT/BOOTX64.EFI). Both at once, each
 * with its own config disk and qemu user network (only the API forwarded to
 * 127.0.0.1). Checked through the API and the console: the firmware that
 * booted it (/sys/firmware/efi exists only under UEFI), the node runs its
 * group (a virtual address), and the console shows its state and dashboard.
 * Prints each boot's time to running.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { boot, buildMissing, clusterKey, configDisk, ensureImage, imageStale, ovmfMissing, qemuMissing, type BootMedia, type Vm, TEST_CONSOLE } from "../../appliance/vm.ts";
import { freePort, tempDir, waitFor } from "../helpers.ts";

const why = qemuMissing() ?? ovmfMissing() ?? (imageStale() ? buildMissing() : undefined);
if (why) console.log(`skip: appliance ISO boots: ${why}`);

/** Both boots at once under emulation (firmware, boot loader, kernel, tandem); measured ~45 s. */
const BOOT_TIMEOUT_MS = 150_000;
const GUEST = "198.18.5.11";
const VIP = "198.18.5.50";
const MEDIA: BootMedia[] = ["iso-bios-cd", "iso-uefi-disk"];

/** A JSON answer of the node's API (its shape is the API's, checked by the API's own tests). */
type Json = any;

const CONFIG = `cluster = "iso"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "${GUEST}"

[api]
port = 9480

[resources]

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${VIP}/24", interface = "eth0" }
`;

describe.skipIf(why !== undefined)("appliance ISO boots", () => {
  const tmp = why ? undefined : tempDir("appliance-iso");
  const vms: Partial<Record<BootMedia, { vm: Vm; api: string; bootMs?: number }>> = {};

  beforeAll(async () => {
    ensureImage();
    const dir = tmp!.dir;
    const key = clusterKey(dir);
    for (const media of MEDIA) {
      const disk = join(dir, `${media}.img`);
      configDisk(disk, {
        "tandem.toml": CONFIG,
        "cluster.key": key,
        "appliance.conf": `node=alpha\nip=eth0:${GUEST}/24\npassword_hash=${TEST_CONSOLE.hash}\n`,
      }, dir);
      const port = await freePort();
      const vm = boot({
        name: `tandem-${media}`,
        media,
        smp: 1,
        configDisk: disk,
        password: TEST_CONSOLE.password,
        console: join(dir, `${media}.console`),
        net: ["-netdev", `user,id=n0,net=198.18.5.0/24,hostfwd=tcp:127.0.0.1:${port}-${GUEST}:9480`, "-device", "virtio-net-pci,netdev=n0"],
      });
      vms[media] = { vm, api: `http://127.0.0.1:${port}` };
    }
    await Promise.all(MEDIA.map(async (media) => {
      const v = vms[media]!;
      await waitFor(`${media}: the node's API to answer running`, async () => {
        const r = await fetch(`${v.api}/v1/status`, { signal: AbortSignal.timeout(5_000) });
        const s: Json = r.ok ? await r.json() : undefined;
        return s?.phase === "running" ? true : undefined;
      }, BOOT_TIMEOUT_MS, 1_000).catch((e) => {
        throw new Error(`${e.message}\n--- console ---\n${v.vm.console().slice(-3000)}`);
      });
      v.bootMs = Date.now() - v.vm.startedAt;
    }));
    console.log(`appliance ISO: boot to running (both at once, -smp 1 each): BIOS from CD ${(vms["iso-bios-cd"]!.bootMs! / 1000).toFixed(1)} s, UEFI from disk ${(vms["iso-uefi-disk"]!.bootMs! / 1000).toFixed(1)} s`);
  }, BOOT_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await Promise.all(Object.values(vms).map((v) => v.vm.kill()));
    tmp?.cleanup();
  });

  for (const media of MEDIA) {
    test(`${media}: booted by its firmware; the node runs its virtual address; the console shows its state and dashboard`, async () => {
      const v = vms[media]!;
      const firmware = await v.vm.shell("if [ -d /sys/firmware/efi ]; then echo firmware=uefi; else echo firmware=bios; fi", 20_000);
      expect(firmware).toContain(media === "iso-uefi-disk" ? "firmware=uefi" : "firmware=bios");
      const states = await waitFor("vip started", async () => {
        const r = await fetch(`${v.api}/v1/status`, { signal: AbortSignal.timeout(5_000) });
        const s: Json = await r.json();
        return s.modules?.resources?.resources?.vip?.states?.alpha === "started" ? s.modules.resources.resources.vip.states : undefined;
      }, 30_000, 500);
      expect(states).toEqual({ alpha: "started" });
      await v.vm.waitConsole(new RegExp(`node alpha running; dashboard http://${GUEST.replaceAll(".", "\\.")}:9480/`), 20_000);
    }, 60_000);
  }
});
