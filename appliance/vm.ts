/**
 * Boots the appliance in qemu: the config disk (a FAT image labelled
 * TANDEMCFG, written with mtools) and one VM by direct kernel boot, under KVM
 * when it works and else software emulation (TCG). Used by test/appliance and
 * by `bun appliance/vm.ts DIR` to boot one node by hand.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
export const IMAGE = join(ROOT, "dist", "appliance");

/** Memory of one VM: the Bun executable sits in the initramfs, which lives in RAM (384 MB is the floor measured). */
export const VM_MEMORY_MB = 512;
/** A VM that does not stop after SIGTERM within this is killed. */
const STOP_GRACE_MS = 3_000;

/** Why qemu cannot boot the appliance here, or undefined when it can. */
export function qemuMissing(): string | undefined {
  if (!Bun.which("qemu-system-x86_64")) return "needs qemu-system-x86_64 (Debian: qemu-system-x86; npm test's setup installs it as root)";
  if (!Bun.which("mformat") || !Bun.which("mcopy")) return "needs mtools";
  if (!Bun.which("mkfs.ext4") && !existsSync("/sbin/mkfs.ext4")) return "needs mkfs.ext4 (Debian: e2fsprogs)";
  return undefined;
}

/** Why the image cannot be built here (a tool of appliance/build.mjs is missing), or undefined. */
export function buildMissing(): string | undefined {
  const tools = ["busybox", "cpio", "depmod", "zstd", "xz", "objcopy", "xorriso", "mformat", "mcopy", "nft", "ipvsadm", "fuser", "apt-get", "dpkg-deb"];
  const missing = tools.filter((t) => !Bun.which(t) && !existsSync(`/sbin/${t}`) && !existsSync(`/usr/sbin/${t}`));
  if (!existsSync("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")) missing.push("systemd-boot-efi");
  if (!existsSync("/usr/lib/ISOLINUX/isolinux.bin")) missing.push("isolinux");
  return missing.length ? `the image is not built and its build needs ${missing.join(", ")} (scripts/setup.mjs installs them as root)` : undefined;
}

/**
 * The accelerator: software emulation (TCG) unless TANDEM_QEMU_ACCEL=kvm. KVM is opt-in because a
 * PVM /dev/kvm (this kind of machine) looks usable and cannot boot a stock kernel (qemu asserts or crawls).
 */
export function accel(): string[] {
  if (process.env.TANDEM_QEMU_ACCEL === "kvm") return ["-accel", "kvm", "-cpu", "host"];
  return ["-accel", "tcg,thread=multi", "-cpu", "max"];
}

/** The console password of the test VMs, and its crypt(3) hash for appliance.conf's password_hash (openssl passwd -6 -salt tandemtest). */
export const TEST_CONSOLE = {
  password: "tandem-console-test",
  hash: "$6$tandemtest$v9IxfryjKQ52oU/r1aCizo2pcjhjabFvhbmNcQALmTEuyJh3c4qjbMSMClwyHJQRJVi/fIrrmXgeJRerWSsVV0",
} as const;

/** A FAT image labelled TANDEMCFG holding `files` (name -> content), as the appliance's init looks for. */
export function configDisk(path: string, files: Record<string, string>, dir: string): void {
  const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
  const sh = (cmd: string[]) => {
    const r = spawnSync(cmd[0]!, cmd.slice(1), { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr}`);
  };
  sh(["mformat", "-i", path, "-C", "-f", "1440", "-v", "TANDEMCFG", "::"]);
  for (const [name, text] of Object.entries(files)) {
    const local = join(dir, `disk-${name}`);
    writeFileSync(local, text, { mode: 0o600 });
    sh(["mcopy", "-i", path, local, `::${name}`]);
  }
}

/** An empty ext4 image of `mb` MiB labelled TANDEMDATA: the appliance's data disk (mkfs.ext4 writes into a file, no loop device). */
export function dataDisk(path: string, mb = 16): void {
  writeFileSync(path, "");
  truncateSync(path, mb * 1024 * 1024);
  const r = spawnSync("mkfs.ext4", ["-q", "-F", "-L", "TANDEMDATA", path], { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:/sbin:/usr/sbin` } });
  if (r.status !== 0) throw new Error(`mkfs.ext4 ${path}: ${r.stderr}`);
}

/**
 * What the VM boots: the kernel and initrd directly (the quickest under emulation), or the hybrid ISO as a
 * BIOS (SeaBIOS) sees it on a CD, or as UEFI (OVMF) sees it on a disk.
 */
export type BootMedia = "kernel" | "iso-bios-cd" | "iso-uefi-disk";

/** x86's COMMAND_LINE_SIZE, the terminating NUL included: a longer command line is cut. */
const KERNEL_COMMAND_LINE_MAX = 2048;

/** OVMF's firmware and the template of its variable store, from Debian's ovmf package. */
const OVMF = { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" };

/** Why a UEFI boot cannot run here, or undefined. */
export function ovmfMissing(): string | undefined {
  return existsSync(OVMF.code) && existsSync(OVMF.vars) ? undefined : "needs OVMF (Debian: ovmf; npm test's setup installs it as root)";
}

export interface VmOptions {
  name: string;
  /** Default "kernel". */
  media?: BootMedia;
  /** Extra kernel command line (tandem.node=, tandem.ip=, ...); only for a direct kernel boot (the ISO has its own). */
  append?: string;
  /** A config disk image attached read-only. */
  configDisk?: string;
  /** The console's root password (the config disk's appliance.conf gives its hash): `shell` logs in with it first. */
  password?: string;
  /** A data disk image (see dataDisk) attached read-write. */
  dataDisk?: string;
  /** qemu -netdev/-device pairs, already formed. */
  net: string[];
  /** The serial console's output goes to this file; its input is a Unix socket beside it (`FILE.sock`), see Vm.shell. */
  console: string;
  /** Virtual CPUs (default 2; a pair on two host cores runs best with 1 each). */
  smp?: number;
  /** Memory in MB (default VM_MEMORY_MB). */
  memoryMb?: number;
  /** Run qemu inside this network namespace (`ip netns exec` execs it: the pid is qemu's), for tap devices there. */
  netns?: string;
}

/** How long a command typed at the console may show no begin marker before it is typed again (Vm.shell). */
const SHELL_RETYPE_MS = 4000;

export interface Vm {
  pid: number;
  startedAt: number;
  console(): string;
  /** Waits (bounded) for a console line matching `re`. */
  waitConsole(re: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /**
   * Runs a shell command on the console (the appliance's root shell there, after the login with the VM's
   * password) and gives its output: what an operator at the console sees. Bounded; one at a time. A line that
   * shows nothing within SHELL_RETYPE_MS is typed again, so a command must bear running twice.
   */
  shell(command: string, timeoutMs: number): Promise<string>;
  /** Logs in as root at the console with `password`: true at the shell's prompt, false on "Login incorrect". Bounded. */
  login(password: string, timeoutMs: number): Promise<boolean>;
  /** Stops qemu (SIGTERM, then SIGKILL after a grace): a power cut for the guest. */
  kill(): Promise<void>;
  exited: Promise<number>;
  /** Whether qemu still runs. */
  running(): boolean;
}

/** The kernel to boot directly: the uncompressed vmlinux (PVH entry) skips decompression under emulation. */
function kernel(): string {
  const vmlinux = join(IMAGE, "vmlinux");
  return existsSync(vmlinux) ? vmlinux : join(IMAGE, "vmlinuz");
}

function media(o: VmOptions): string[] {
  const iso = join(ROOT, "dist", "tandem-appliance.iso");
  switch (o.media ?? "kernel") {
    case "kernel": {
      const append = `console=ttyS0 panic=-1 quiet ${o.append ?? ""}`.trim();
      if (append.length >= KERNEL_COMMAND_LINE_MAX) throw new Error(`${o.name}: the kernel command line is ${append.length} bytes; x86 takes fewer than ${KERNEL_COMMAND_LINE_MAX}`);
      return ["-kernel", kernel(), "-initrd", join(IMAGE, "initrd"), "-append", append];
    }
    case "iso-bios-cd":
      return ["-drive", `file=${iso},media=cdrom,readonly=on`, "-boot", "d"];
    case "iso-uefi-disk": {
      // The firmware writes its variables: each VM gets its own copy of the template, beside its console.
      const vars = `${o.console}.ovmf-vars.fd`;
      copyFileSync(OVMF.vars, vars);
      return ["-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF.code}`, "-drive", `if=pflash,format=raw,unit=1,file=${vars}`, "-drive", `file=${iso},format=raw,if=virtio,readonly=on`];
    }
  }
}

export function boot(o: VmOptions): Vm {
  const args = [
    ...(o.netns ? ["ip", "netns", "exec", o.netns] : []),
    "qemu-system-x86_64", ...accel(), "-smp", String(o.smp ?? 2), "-m", String(o.memoryMb ?? VM_MEMORY_MB), "-name", o.name,
    "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
    "-chardev", `socket,id=con,path=${o.console}.sock,server=on,wait=off,logfile=${o.console}`, "-serial", "chardev:con",
    ...media(o),
    ...(o.configDisk ? ["-drive", `file=${o.configDisk},format=raw,if=virtio,readonly=on`] : []),
    ...(o.dataDisk ? ["-drive", `file=${o.dataDisk},format=raw,if=virtio`] : []),
    ...o.net,
  ];
  const p = Bun.spawn(args, { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const startedAt = Date.now();
  const read = () => (existsSync(o.console) ? readFileSync(o.console, "utf8") : "");
  let gone = false;
  let shells = 0;
  let loggedIn = false;
  const exited = p.exited.then((code) => ((gone = true), code));
  const vm: Vm = {
    pid: p.pid,
    startedAt,
    console: read,
    exited,
    running: () => !gone,
    async waitConsole(re, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const m = re.exec(read());
        if (m) return m;
        if (gone) break;
        await Bun.sleep(200);
      }
      const stderr = gone ? await new Response(p.stderr).text() : "";
      throw new Error(`${o.name}: no console line matching ${re} within ${timeoutMs} ms${gone ? ` (qemu exited: ${stderr.trim()})` : ""}\n--- console ---\n${read().slice(-4000)}`);
    },
    async login(password, timeoutMs) {
      const socket = await Bun.connect({ unix: `${o.console}.sock`, socket: { data() {} } });
      const until = Date.now() + timeoutMs;
      /** Types `text` and waits for `re` in what the console prints after it; what matched. */
      const answer = async (text: string, re: RegExp): Promise<string> => {
        const at = read().length;
        socket.write(text);
        let m: RegExpExecArray | null = null;
        while (Date.now() < until && !gone && !(m = re.exec(read().slice(at)))) await Bun.sleep(100);
        if (!m) throw new Error(`${o.name}: the console's login did not answer ${re}\n--- console ---\n${read().slice(-3000)}`);
        return m[0];
      };
      try {
        // Not anchored at the end: the status lines (tandem-status) may follow a prompt on the console.
        await answer("\n", /login: /);
        await answer("root\n", /Password: /);
        loggedIn = (await answer(`${password}\n`, /~ # |Login incorrect/)) !== "Login incorrect";
        return loggedIn;
      } finally {
        socket.end();
      }
    },
    async shell(command, timeoutMs) {
      const tag = `tandem-shell-${++shells}`;
      // The markers are printed by the shell, not typed: the echo of the typed line does not match them.
      const begin = `${tag}:begin`;
      const end = `${tag}:end`;
      const input = `\necho ${tag}:b''egin; ${command}; echo ${tag}:e''nd\n`;
      const until = Date.now() + timeoutMs;
      if (o.password !== undefined && !loggedIn && !(await vm.login(o.password, timeoutMs))) throw new Error(`${o.name}: the console refused the VM's password`);
      const from = read().length;
      let socket: Awaited<ReturnType<typeof Bun.connect>> | undefined;
      let typedAt = 0;
      try {
        while (Date.now() < until && !gone) {
          const out = read().slice(from).replaceAll("\r", "");
          const b = out.indexOf(`${begin}\n`);
          const e = b < 0 ? -1 : out.indexOf(`${end}\n`, b);
          if (e >= 0) return out.slice(b + begin.length + 1, e);
          // A line that shows no sign of reaching the shell (seen lost now and then in CI, console wedged for 30 s) is
          // typed again on a new connection; the markers are the same, so a late first answer counts too.
          if (b < 0 && Date.now() - typedAt >= SHELL_RETYPE_MS) {
            socket?.end();
            socket = await Bun.connect({ unix: `${o.console}.sock`, socket: { data() {} } });
            socket.write(input);
            typedAt = Date.now();
          }
          await Bun.sleep(100);
        }
      } finally {
        socket?.end();
      }
      throw new Error(`${o.name}: the console gave no answer to "${command}" within ${timeoutMs} ms\n--- console ---\n${read().slice(-3000)}`);
    },
    async kill() {
      if (gone) return;
      process.kill(p.pid, "SIGTERM");
      const timer = setTimeout(() => !gone && process.kill(p.pid, "SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
  return vm;
}

/** Whether dist/appliance is missing or older than what it is built from: dist/tandem, the build script, rootfs/. */
export function imageStale(): boolean {
  const initrd = join(IMAGE, "initrd");
  if (!existsSync(initrd)) return true;
  const built = statSync(initrd).mtimeMs;
  const inputs = [join(ROOT, "dist", "tandem"), join(ROOT, "appliance", "build.mjs"), join(ROOT, "appliance", "isolinux.cfg")];
  const rootfs = join(ROOT, "appliance", "rootfs");
  for (const f of readdirSync(rootfs, { recursive: true, encoding: "utf8" })) inputs.push(join(rootfs, f));
  return inputs.some((f) => existsSync(f) && statSync(f).mtimeMs > built);
}

/** Builds the image when it is stale (appliance/build.mjs), saying how long it took; throws with the build's output when it fails. */
export function ensureImage(): void {
  if (!imageStale()) return;
  const t = Date.now();
  const r = spawnSync("node", [join(ROOT, "appliance", "build.mjs")], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`appliance build failed:\n${r.stdout}\n${r.stderr}`);
  console.log(`appliance: image built in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** A new cluster key in `dir`/cluster.key (tandem keygen); its text. */
export function clusterKey(dir: string): string {
  const path = join(dir, "cluster.key");
  const r = spawnSync(process.env.TANDEM_BIN ?? join(ROOT, "dist", "tandem"), ["keygen", "-o", path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tandem keygen: ${r.stderr}`);
  return readFileSync(path, "utf8");
}

// `bun appliance/vm.ts DIR [--port N]`: boot one node with DIR's files (tandem.toml, its key,
// appliance.conf) on its config disk, its API forwarded to 127.0.0.1:N, the console here.
if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir || !existsSync(join(dir, "tandem.toml"))) {
    console.error("usage: bun appliance/vm.ts DIR [--port N]   (DIR holds tandem.toml, its key, appliance.conf)");
    process.exit(2);
  }
  const port = Number(process.argv[process.argv.indexOf("--port") + 1] ?? 9480) || 9480;
  const files = Object.fromEntries(readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
  const disk = join(dir, ".tandemcfg.img");
  configDisk(disk, files, dir);
  console.log(`booting; API on 127.0.0.1:${port} (guest 198.18.5.11:9480); Ctrl-A X quits`);
  const r = spawnSync("qemu-system-x86_64", [
    ...accel(), "-smp", "2", "-m", String(VM_MEMORY_MB), "-nographic", "-no-reboot",
    "-kernel", kernel(), "-initrd", join(IMAGE, "initrd"), "-append", "console=ttyS0 panic=-1 quiet",
    "-drive", `file=${disk},format=raw,if=virtio,readonly=on`,
    "-netdev", `user,id=n0,net=198.18.5.0/24,host=198.18.5.2,dhcpstart=198.18.5.11,hostfwd=tcp:127.0.0.1:${port}-198.18.5.11:9480`,
    "-device", "virtio-net-pci,netdev=n0",
  ], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
