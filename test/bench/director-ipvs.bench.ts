/**
 * The director's reconcile on the IPVS dataplane, for the same 1,000 virtual
 * services × 10 real servers as the nftables bench. This machine's kernel has
 * no IPVS, so it runs inside the appliance VM on Debian's stock kernel: the
 * image carries the tandem executable, which is Bun, so the dataplane's own
 * code runs there (test/bench/vm/ipvs-reconcile.ts, bundled onto the VM's
 * config disk, run at its console). The anchor is ipvsadm in the same VM:
 * `ipvsadm -R` of the same rules for a first apply, one `ipvsadm -e` for a
 * weight change (what a script, or keepalived, does for one server).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, type Table } from "./lib.ts";
import { REALS, SERVICES } from "./director-state.ts";
import { boot, buildMissing, configDisk, ensureImage, imageStale, qemuMissing, TEST_CONSOLE, type Vm } from "../../appliance/vm.ts";

const RUNS = 3;
/** Boot, then RUNS rounds of 10,000 entries each way under software emulation. */
const BOOT_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 900_000;

export async function bench(): Promise<Table> {
  const why = qemuMissing() ?? (imageStale() ? buildMissing() : undefined);
  if (why) throw new Error(`the IPVS bench runs in the appliance VM: ${why}`);
  ensureImage();
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-ipvs-"));
  let vm: Vm | undefined;
  try {
    const built = await Bun.build({ entrypoints: [join(import.meta.dir, "vm", "ipvs-reconcile.ts")], target: "bun" });
    if (!built.success) throw new Error(`bundling the in-VM bench: ${built.logs.join("\n")}`);
    const disk = join(dir, "config.img");
    // No tandem.toml: the appliance waits at its console instead of running a node. A console password: without
    // one the console gives only the node's status, no shell to run the bench at.
    configDisk(disk, { "ipvs-bench.js": await built.outputs[0]!.text(), "appliance.conf": `ip=eth0:198.18.5.11/24\npassword_hash=${TEST_CONSOLE.hash}\n` }, dir);
    vm = boot({
      name: "tandem-bench-ipvs",
      configDisk: disk,
      memoryMb: 1024,
      password: TEST_CONSOLE.password,
      console: join(dir, "console.log"),
      net: ["-netdev", "user,id=n0,net=198.18.5.0/24", "-device", "virtio-net-pci,netdev=n0"],
    });
    await vm.waitConsole(/tandem-appliance: no config/, BOOT_TIMEOUT_MS);
    const out = await vm.shell(`BUN_BE_BUN=1 /usr/bin/tandem /run/tandem/config/ipvs-bench.js ${RUNS} 2>&1`, RUN_TIMEOUT_MS);
    const m = /IPVS-BENCH (\{.*\})/.exec(out);
    if (!m) throw new Error(`the in-VM bench printed no result:\n${out.slice(-3000)}`);
    const t = JSON.parse(m[1]!) as Record<"stall" | "first" | "change" | "changeAfterFirst" | "same" | "read" | "anchorFirst" | "anchorChange", number[]>;
    return {
      title: `Director reconcile, IPVS dataplane (in the appliance VM): ${SERVICES.toLocaleString("en")} virtual services × ${REALS} real servers`,
      anchor: "ipvsadm -R / ipvsadm -e",
      method: `Medians of ${RUNS} runs inside one appliance VM (Debian's stock 6.1 kernel, qemu software emulation with 2 vCPUs on this machine's 2 cores: absolute times are inflated by emulation alike for both, the ratio is what carries over), wrr with weights 1 to 3, NAT. Tandem: IpvsDataplane.reconcile() end to end (generic netlink dump of services and real servers, diff, one request per change), its read-back checked against what was programmed; the stall is the largest gap of a 1 ms timer in the same process during a first apply (the heartbeat shares that event loop). Anchor: ipvsadm 1.31 from Debian, the same state restored with ipvsadm -R (checked equal by a reconcile with no change), and the one-server change as a single ipvsadm -e, each a process as a script runs it. "Nothing changed" and "read" have no counterpart there, so n/a.`,
      rows: [
        { figure: "first apply", unit: "ms", tandem: median(t.first), anchor: median(t.anchorFirst), better: "lower" },
        { figure: "one server's weight changed (steady: 4 a run, back and forth)", unit: "ms", tandem: median(t.change), anchor: median(t.anchorChange), better: "lower" },
        { figure: "one server's weight changed, right after the first apply", unit: "ms", tandem: median(t.changeAfterFirst), anchor: median(t.anchorChange), better: "lower" },
        { figure: "reconcile, nothing changed", unit: "ms", tandem: median(t.same), anchor: NaN, better: "lower" },
        { figure: "read the table (netlink dump, parse)", unit: "ms", tandem: median(t.read), anchor: NaN, better: "lower" },
        { figure: "longest event-loop stall in a first apply", unit: "ms", tandem: median(t.stall), anchor: NaN, better: "lower" },
      ],
    };
  } finally {
    await vm?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
