#!/usr/bin/env node
// Builds the appliance from dist/tandem and Debian's packages:
//   dist/appliance/vmlinuz   the stock Debian kernel (linux-image-6.1.*-amd64)
//   dist/appliance/vmlinux   the same kernel uncompressed (PVH entry: a faster
//                            direct boot under software emulation)
//   dist/appliance/initrd    the whole root: busybox, glibc, kmod, nft, ipvsadm, the
//                            kernel modules Tandem needs, the OCF agents
//                            busybox's shell runs, dist/tandem, /init
//   dist/appliance/tandem.efi  a unified kernel image (systemd-boot's stub)
//   dist/tandem-appliance.iso  hybrid: BIOS (isolinux) and UEFI (the UKI), CD or disk
// Needs root only to install missing Debian packages (scripts/setup.mjs
// --appliance does that); no loop devices, no mounts. Everything it fetches
// comes from the configured Debian archive through apt-get.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const out = join(root, "dist", "appliance");
const cache = join(root, "dist", ".cache");
const tandemBin = join(root, "dist", "tandem");

/** Every file in the image gets this time (SOURCE_DATE_EPOCH when set): same inputs, same bytes. */
const EPOCH = Number(process.env.SOURCE_DATE_EPOCH ?? Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" }).trim() || 0));

/** Kernel modules the image carries (with everything they depend on). Directories take every module under them. */
export const MODULES = [
  // IPVS and its schedulers, conntrack, nftables (the director's two dataplanes)
  "kernel/net/netfilter/ipvs/",
  "kernel/net/netfilter/",
  "kernel/net/ipv4/netfilter/",
  "kernel/net/ipv6/netfilter/",
  // links: the lab's veths, bridges, VLANs, bonds; qemu's NICs
  "veth", "bridge", "8021q", "bonding", "dummy",
  "e1000", "e1000e", "virtio_net", "virtio_pci", "virtio_blk", "virtio_scsi", "virtio_console",
  // disks: replication (nbd, drbd), the config disk (FAT, ISO 9660 on a CD), the data disk (ext4 or FAT)
  "nbd", "drbd", "vfat", "isofs", "ext4", "sr_mod", "ata_piix", "ahci", "sd_mod",
  "kernel/fs/nls/",
  // the watchdog where the machine has no hardware one ([watchdog] device = "/dev/watchdog")
  "softdog",
];

/** The ISO's initrd is compressed (firmware reads it from a CD); level 9 is most of 19's gain at a fraction of its time. */
const ZSTD_LEVEL = 9;

/** Programs copied from the build host with the shared libraries ldd names. */
const PROGRAMS = [
  ["/usr/bin/kmod", "/usr/bin/kmod"],
  ["/usr/sbin/nft", "/usr/sbin/nft"], // the director's nftables dataplane
  ["/usr/sbin/ipvsadm", "/usr/sbin/ipvsadm"], // IPVS at the console (ipvsadm -Ln); the anchor of the IPVS bench
  ["/usr/bin/fuser", "/usr/bin/fuser"], // ocf:heartbeat:Filesystem checks for fuser and fsck and runs fuser -m at stop (busybox has neither)
  ["/usr/sbin/fsck", "/usr/sbin/fsck"],
  ["/usr/sbin/bird", "/usr/sbin/bird"], // [routing]: BGP and BFD to the routers (Debian's bird2)
  ["/usr/sbin/birdc", "/usr/sbin/birdc"],
];

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
}

function step(what) {
  const t = Date.now();
  process.stdout.write(`appliance: ${what}…`);
  return () => console.log(` ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** The newest 6.1 kernel the archive offers: the one linux-image-amd64 depends on if it is a 6.1, else the highest 6.1.0-N-amd64. */
function kernelPackage() {
  if (process.env.TANDEM_KERNEL) return process.env.TANDEM_KERNEL;
  const meta = spawnSync("apt-cache", ["depends", "linux-image-amd64"], { encoding: "utf8" }).stdout ?? "";
  const m = /Depends: (linux-image-6\.1\.0-\d+-amd64)\b/.exec(meta);
  if (m) return m[1];
  const names = (spawnSync("apt-cache", ["search", "--names-only", "^linux-image-6\\.1\\.0-[0-9]+-amd64$"], { encoding: "utf8" }).stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => /^linux-image-6\.1\.0-\d+-amd64$/.test(n));
  names.sort((a, b) => Number(/-(\d+)-amd64/.exec(a)[1]) - Number(/-(\d+)-amd64/.exec(b)[1]));
  if (!names.length) throw new Error("no linux-image-6.1.0-N-amd64 in apt-cache (is this Debian 12 with its archive configured?)");
  return names.at(-1);
}

/** Downloads a package's .deb once into dist/.cache (the kernel's, resource-agents'). */
function fetchDeb(pkg) {
  mkdirSync(cache, { recursive: true });
  const have = readdirSync(cache).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (have) return join(cache, have);
  run("apt-get", ["download", "-q", pkg], { cwd: cache, stdio: ["ignore", "inherit", "pipe"] });
  const got = readdirSync(cache).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (!got) throw new Error(`apt-get download ${pkg} left no .deb`);
  return join(cache, got);
}

/**
 * The OCF agents of Debian's resource-agents that busybox's shell runs (`#!/bin/sh`; those needing bash or
 * python are left out, so an agent in the image is one that can run there), with the shell library they
 * source. Returns how many agents.
 */
function ocfAgents(deb, work, rootfs) {
  const x = join(work, "resource-agents");
  run("dpkg-deb", ["-x", deb, x]);
  const ocf = join(x, "usr", "lib", "ocf");
  const lib = join(ocf, "lib", "heartbeat");
  const libDest = join(rootfs, "usr", "lib", "ocf", "lib", "heartbeat");
  mkdirSync(libDest, { recursive: true });
  for (const f of readdirSync(lib)) if (f.startsWith("ocf-") || f.endsWith(".sh")) copyFileSync(join(lib, f), join(libDest, f));
  const agents = join(ocf, "resource.d", "heartbeat");
  const agentsDest = join(rootfs, "usr", "lib", "ocf", "resource.d", "heartbeat");
  mkdirSync(agentsDest, { recursive: true });
  let count = 0;
  for (const f of readdirSync(agents)) {
    if (!readFileSync(join(agents, f)).subarray(0, 10).equals(Buffer.from("#!/bin/sh\n"))) continue;
    copyFileSync(join(agents, f), join(agentsDest, f));
    chmodSync(join(agentsDest, f), 0o755);
    count++;
  }
  return count;
}

/** The ELF inside a bzImage: Debian compresses with xz; the payload starts at the first xz stream header. */
function extractVmlinux(vmlinuz, dest) {
  const image = readFileSync(vmlinuz);
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  for (let at = image.indexOf(magic); at >= 0; at = image.indexOf(magic, at + 1)) {
    const r = spawnSync("xz", ["-dc", "--single-stream"], { input: image.subarray(at), maxBuffer: 256 * 1024 * 1024 });
    if (r.status === 0 && r.stdout.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
      writeFileSync(dest, r.stdout);
      return true;
    }
  }
  return false;
}

/** Reads modules.dep into name -> { path, deps }. */
function readDeps(modulesDir) {
  const byName = new Map();
  const byPath = new Map();
  for (const line of readFileSync(join(modulesDir, "modules.dep"), "utf8").split("\n")) {
    const [path, rest] = line.split(":");
    if (!path || rest === undefined) continue;
    const deps = rest.trim() ? rest.trim().split(/\s+/) : [];
    const name = path.split("/").pop().replace(/\.ko(\.\w+)?$/, "").replaceAll("-", "_");
    byName.set(name, path);
    byPath.set(path, deps);
  }
  return { byName, byPath };
}

/** Soft dependencies (modules.softdep: "softdep libcrc32c pre: crc32c"), the names resolved through modules.alias. */
function readSoftdeps(modulesDir, byName) {
  const aliases = new Map();
  for (const line of readFileSync(join(modulesDir, "modules.alias"), "utf8").split("\n")) {
    const [word, alias, name] = line.split(" ");
    if (word === "alias" && alias && name) aliases.set(alias, [...(aliases.get(alias) ?? []), name]);
  }
  const soft = new Map();
  for (const line of readFileSync(join(modulesDir, "modules.softdep"), "utf8").split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== "softdep" || !words[1]) continue;
    const names = words.slice(2).filter((w) => !w.endsWith(":"));
    const paths = names.flatMap((n) => [n, ...(aliases.get(n) ?? [])]).map((n) => byName.get(n.replaceAll("-", "_"))).filter(Boolean);
    soft.set(words[1].replaceAll("-", "_"), paths);
  }
  return soft;
}

function selectModules(modulesDir) {
  const { byName, byPath } = readDeps(modulesDir);
  const soft = readSoftdeps(modulesDir, byName);
  const chosen = new Set();
  const add = (path) => {
    if (chosen.has(path)) return;
    chosen.add(path);
    const name = path.split("/").pop().replace(/\.ko(\.\w+)?$/, "").replaceAll("-", "_");
    for (const d of [...(byPath.get(path) ?? []), ...(soft.get(name) ?? [])]) add(d);
  };
  const builtin = readFileSync(join(modulesDir, "modules.builtin"), "utf8");
  for (const want of MODULES) {
    if (want.endsWith("/")) {
      const under = [...byPath.keys()].filter((p) => p.startsWith(want));
      if (!under.length) throw new Error(`no modules under ${want}`);
      under.forEach(add);
    } else {
      const path = byName.get(want.replaceAll("-", "_"));
      if (path) add(path);
      else if (!builtin.includes(`/${want}.ko`)) throw new Error(`module ${want} is neither in the package nor built in`);
    }
  }
  return [...chosen];
}

/** Copies a program and the libraries ldd names, at the paths ldd names them (the loader included). */
function copyWithLibs(src, dest, into) {
  const place = (from, to) => {
    const target = join(into, to);
    if (existsSync(target)) return;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(realpathSync(from), target);
    chmodSync(target, 0o755);
  };
  place(src, dest);
  for (const line of run("ldd", [src]).split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) place(m[1], m[1]);
  }
}

function busybox(into) {
  const bb = "/bin/busybox";
  const ldd = spawnSync("ldd", [bb], { encoding: "utf8" });
  if (!/not a dynamic executable|statically linked/.test(`${ldd.stdout}${ldd.stderr}`)) throw new Error("/bin/busybox is not busybox-static");
  mkdirSync(join(into, "bin"), { recursive: true });
  copyFileSync(bb, join(into, "bin", "busybox"));
  chmodSync(join(into, "bin", "busybox"), 0o755);
  const applets = run(bb, ["--list-full"]).split("\n").filter(Boolean);
  for (const a of applets) {
    const link = join(into, a);
    if (existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), join(into, "bin", "busybox")), link);
  }
}

/** Sets every entry's time to EPOCH, deepest first, so the archive does not depend on when it was built. */
function stamp(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) stamp(p);
    if (st.isSymbolicLink()) lutimesSync(p, EPOCH, EPOCH);
    else utimesSync(p, EPOCH, EPOCH);
  }
  utimesSync(dir, EPOCH, EPOCH);
}

/** newc cpio of the tree: sorted, owned by root, no inode numbers or times from the build. */
function cpio(dir) {
  const list = run("find", [".", "-mindepth", "1"], { cwd: dir }).split("\n").filter(Boolean).sort().join("\n") + "\n";
  return execFileSync("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"], { cwd: dir, input: list, maxBuffer: 1024 * 1024 * 1024 });
}

function buildRoot(rootfs, modulesSrc, kver) {
  for (const d of ["dev", "proc", "sys", "run", "tmp", "var", "config", "etc", "root", "mnt", "mnt/data", "usr/bin", "usr/sbin", "sbin", "lib"]) mkdirSync(join(rootfs, d), { recursive: true });
  busybox(rootfs);
  copyWithLibs(tandemBin, "/usr/bin/tandem", rootfs);
  for (const [src, dest] of PROGRAMS) copyWithLibs(src, dest, rootfs);
  for (const tool of ["modprobe", "insmod", "rmmod", "lsmod", "modinfo", "depmod"]) {
    rmSync(join(rootfs, "sbin", tool), { force: true });
    symlinkSync("../usr/bin/kmod", join(rootfs, "sbin", tool));
  }
  // The kernel modules, uncompressed as Debian ships them, and their index.
  const modules = selectModules(modulesSrc);
  const modDest = join(rootfs, "lib", "modules", kver);
  for (const m of modules) {
    mkdirSync(dirname(join(modDest, m)), { recursive: true });
    copyFileSync(join(modulesSrc, m), join(modDest, m));
  }
  for (const f of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) copyFileSync(join(modulesSrc, f), join(modDest, f));
  run("depmod", ["-b", rootfs, kver]);
  // The appliance's own files: /init, inittab, the helpers.
  cpSync(join(here, "rootfs"), rootfs, { recursive: true });
  for (const f of ["init", "sbin/tandem-run", "sbin/tandem-status", "sbin/tandem-console", "sbin/tandem-net", "usr/share/udhcpc/default.script"]) chmodSync(join(rootfs, f), 0o755);
  writeFileSync(join(rootfs, "etc", "tandem-appliance-release"), `kernel='${kver}'\ntandem='${run(tandemBin, ["--version"]).trim()}'\n`);
  return modules.length;
}

/** A PE image with the kernel, the initrd and the command line: what UEFI firmware boots directly. */
function uki(vmlinuz, initrd, cmdline, dest, work) {
  const stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
  writeFileSync(join(work, "cmdline"), cmdline + "\0");
  writeFileSync(join(work, "os-release"), 'NAME="Tandem appliance"\nID=tandem\n');
  // Sections are placed after the stub's own, far enough apart for each payload (as objcopy-built UKIs do).
  const mb = (n) => `0x${(n * 1024 * 1024).toString(16)}`;
  const kernelMb = Math.ceil(statSync(vmlinuz).size / 1048576) + 1;
  run("objcopy", [
    "--add-section", `.osrel=${join(work, "os-release")}`, "--change-section-vma", ".osrel=0x20000",
    "--add-section", `.cmdline=${join(work, "cmdline")}`, "--change-section-vma", ".cmdline=0x30000",
    "--add-section", `.linux=${vmlinuz}`, "--change-section-vma", `.linux=${mb(32)}`,
    "--add-section", `.initrd=${initrd}`, "--change-section-vma", `.initrd=${mb(32 + kernelMb)}`,
    stub, dest,
  ]);
  pinPeTimestamp(dest);
}

/** objcopy stamps the PE header with the time of the build: set it to EPOCH and recompute the image checksum. */
function pinPeTimestamp(file) {
  const pe = readFileSync(file);
  const header = pe.readUInt32LE(0x3c);
  if (pe.readUInt32LE(header) !== 0x00004550) throw new Error(`${file}: not a PE image`);
  pe.writeUInt32LE(EPOCH >>> 0, header + 8);
  const checksumAt = header + 24 + 64; // COFF header (20 bytes after the signature), then the optional header's CheckSum
  pe.writeUInt32LE(0, checksumAt);
  let sum = 0;
  for (let i = 0; i + 1 < pe.length; i += 2) {
    sum += pe.readUInt16LE(i);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (pe.length % 2) sum += pe[pe.length - 1];
  sum = (sum & 0xffff) + (sum >>> 16);
  pe.writeUInt32LE((sum + pe.length) >>> 0, checksumAt);
  writeFileSync(file, pe);
}

/** Hybrid ISO: El Torito for BIOS (isolinux) and UEFI (a FAT image holding the UKI as BOOTX64.EFI), an MBR/GPT for disks. */
function iso(vmlinuz, initrd, efi, dest, work) {
  const tree = join(work, "iso");
  mkdirSync(join(tree, "isolinux"), { recursive: true });
  mkdirSync(join(tree, "boot"), { recursive: true });
  copyFileSync("/usr/lib/ISOLINUX/isolinux.bin", join(tree, "isolinux", "isolinux.bin"));
  copyFileSync("/usr/lib/syslinux/modules/bios/ldlinux.c32", join(tree, "isolinux", "ldlinux.c32"));
  copyFileSync(vmlinuz, join(tree, "boot", "vmlinuz"));
  copyFileSync(initrd, join(tree, "boot", "initrd"));
  copyFileSync(join(here, "isolinux.cfg"), join(tree, "isolinux", "isolinux.cfg"));
  // The EFI system partition image, written with mtools (no loop device): just big enough for the UKI.
  const esp = join(tree, "boot", "efi.img");
  const kib = Math.ceil(statSync(efi).size / 1024) + 2048;
  const env = { ...process.env, MTOOLS_SKIP_CHECK: "1", SOURCE_DATE_EPOCH: String(EPOCH) };
  utimesSync(efi, EPOCH, EPOCH); // mcopy -m keeps it
  run("mformat", ["-i", esp, "-C", "-T", String(kib * 2), "-h", "64", "-s", "32", "-N", "7a4d0e01", "-v", "TANDEMEFI", "::"], { env });
  run("mmd", ["-i", esp, "::/EFI", "::/EFI/BOOT"], { env });
  run("mcopy", ["-i", esp, "-m", efi, "::/EFI/BOOT/BOOTX64.EFI"], { env });
  stamp(tree);
  run("xorriso", [
    "-as", "mkisofs", "-quiet", "-o", dest, "-V", "TANDEM", "-R", "-J",
    "-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin",
    "-c", "isolinux/boot.cat", "-b", "isolinux/isolinux.bin", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
    "-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat",
    tree,
  ], { env: { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH) }, stdio: ["ignore", "pipe", "pipe"] }); // its banner and notes: shown only on failure
}

export function build() {
  if (!existsSync(tandemBin)) throw new Error("dist/tandem is missing: run npm run build first");
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), "tandem-appliance-"));
  try {
    let done = step("choosing the kernel");
    const pkg = kernelPackage();
    const kver = pkg.replace(/^linux-image-/, "");
    done();
    done = step(`apt-get download ${pkg} resource-agents`);
    const deb = fetchDeb(pkg);
    const agentsDeb = fetchDeb("resource-agents");
    done();
    done = step("unpacking the kernel and indexing its modules (depmod)");
    const kx = join(work, "kernel");
    run("dpkg-deb", ["-x", deb, kx]);
    const modulesSrc = join(kx, "lib", "modules", kver);
    run("depmod", ["-b", kx, kver]); // the package ships no modules.dep
    done();
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    copyFileSync(join(kx, "boot", `vmlinuz-${kver}`), join(out, "vmlinuz"));
    done = step("extracting vmlinux");
    if (!extractVmlinux(join(out, "vmlinuz"), join(out, "vmlinux"))) console.log(" (no xz payload found: direct boots use vmlinuz)");
    done();
    done = step("assembling the root (busybox, glibc, kmod, nft, ipvsadm, modules, OCF agents, tandem)");
    const rootfs = join(work, "rootfs");
    const count = buildRoot(rootfs, modulesSrc, kver);
    const agents = ocfAgents(agentsDeb, work, rootfs);
    stamp(rootfs);
    done();
    console.log(`appliance:   ${count} kernel modules, ${agents} OCF agents`);
    done = step("writing the initrd (newc cpio, uncompressed: nothing to inflate under emulation)");
    const archive = cpio(rootfs);
    writeFileSync(join(out, "initrd"), archive);
    done();
    done = step("writing the UKI and the hybrid ISO (initrd zstd-compressed there)");
    const zinitrd = join(work, "initrd.zst");
    writeFileSync(zinitrd, execFileSync("zstd", ["-q", `-${ZSTD_LEVEL}`, "-T0", "-c"], { input: archive, maxBuffer: 1024 * 1024 * 1024 }));
    uki(join(out, "vmlinuz"), zinitrd, "console=tty0 console=ttyS0,115200 panic=10 quiet", join(out, "tandem.efi"), work);
    iso(join(out, "vmlinuz"), zinitrd, join(out, "tandem.efi"), join(root, "dist", "tandem-appliance.iso"), work);
    done();
    for (const f of ["vmlinuz", "vmlinux", "initrd", "tandem.efi"]) if (existsSync(join(out, f))) console.log(`  dist/appliance/${f.padEnd(11)} ${(statSync(join(out, f)).size / 1048576).toFixed(1)} MB`);
    console.log(`  dist/tandem-appliance.iso  ${(statSync(join(root, "dist", "tandem-appliance.iso")).size / 1048576).toFixed(1)} MB`);
    writeFileSync(join(out, "kernel"), `${kver}\n`);
    console.log(`appliance: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) build();
