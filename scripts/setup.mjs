#!/usr/bin/env node
// Installs what the project needs on a fresh machine: npm packages (when
// node_modules is missing or older than the lock file) and, as root, the
// Debian packages of the tools the tests drive. Plain Node: it runs before
// anything else is installed.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Tool the tests run -> the Debian package that ships it. */
export const DEBIAN_TOOLS = {
  ip: "iproute2",
  nft: "nftables",
  curl: "curl",
  lintian: "lintian", // test/package checks the .deb that `npm run package` builds
  "dpkg-deb": "dpkg", // `npm run package` builds the .deb with it
  "systemd-analyze": "systemd", // test/package verifies the unit
  promtool: "prometheus", // test/package checks and unit-tests examples/alerts.yml
  ps: "procps",
  setsid: "util-linux",
  fuser: "psmisc", // the appliance's build copies it in for ocf:heartbeat:Filesystem
  chromium: "chromium",
  ping: "iputils-ping",
  haproxy: "haproxy", // the referee of `tandem import haproxy` (haproxy -c)
  openssl: "openssl", // certificates the TLS tests make
  wrk: "wrk", // the proxy's TLS test drives it as the bench does; the proxy bench's load
  ldirectord: "ldirectord", // the referee of `tandem import ldirectord` (ldirectord FILE status)
  keepalived: "keepalived", // the referee of `tandem import keepalived` (keepalived -t), and the failover bench's anchor
  conntrackd: "conntrackd", // the director's connection sync on nftables (test/lab/director-sync.test.ts)
  nbdcopy: "libnbd-bin", // NBD clients of the replication tests: nbdcopy, nbdinfo, nbdsh
  nbdfuse: "nbdfuse", // an NBD export as a file (then losetup, mkfs.ext4, mount) where the kernel has no NBD client
  "qemu-img": "qemu-utils", // qemu's NBD client: convert to and compare with an export
  fusermount3: "fuse3", // unmounts nbdfuse
  nbdkit: "nbdkit", // the replication bench's anchor (its file plugin)
  fio: "fio", // the replication bench's load (its nbd ioengine)
  drbdadm: "drbd-utils", // the referee of `tandem import drbd` (drbdadm dump: its 9, 8.4 and 8.3 parsers, no kernel module needed)
  bird: "bird2", // the routing module drives BIRD (test/modules/routing: bird -p; test/lab/routing.test.ts: the router and the directors); its own systemd unit is not used
};

/** Debian packages the tests use that are not a command (checked with dpkg -s). */
export const DEBIAN_PACKAGES = [
  "resource-agents", // the OCF agents (ocf:heartbeat:Dummy) the resource agent tests run
  "fence-agents", // the fence agents (fence_dummy) the fencing tests run
];

/**
 * What `npm run appliance` builds with and test/appliance boots with (installed by
 * default, so that `npm test` as root runs the appliance tier; about 15 s of its time).
 */
export const APPLIANCE_PACKAGES = [
  "qemu-system-x86", // test/appliance boots the image (software emulation where /dev/kvm is unusable)
  "busybox-static", // the image's userland
  "kmod", // depmod for the kernel package (it ships no modules.dep), modprobe inside the image
  "cpio", // the initramfs
  "zstd", // the ISO's compressed initrd
  "xz-utils", // the uncompressed kernel (vmlinux) out of Debian's xz bzImage
  "binutils", // objcopy: the unified kernel image
  "systemd-boot-efi", // its EFI stub makes the UKI that UEFI boots
  "isolinux", // the BIOS boot of the ISO
  "syslinux-common", // isolinux's ldlinux.c32
  "xorriso", // the hybrid ISO
  "mtools", // FAT images (the EFI system partition, config disks) without loop devices
  "nftables", // nft, copied into the image for the director's nftables dataplane
  "ovmf", // the UEFI firmware test/appliance boots the ISO with
  "ipvsadm", // copied into the image: IPVS at its console, and the IPVS bench's anchor
];

/** What `npm run bench` runs besides the tests' tools: the anchors and the load generators (test/bench/README.md). */
export const BENCH_TOOLS = {
  "stress-ng": "stress-ng",
  nginx: "nginx", // the proxy bench's backends, and its second anchor (haproxy, wrk, openssl: DEBIAN_TOOLS)
};

function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

function npmInstall() {
  const modules = join(root, "node_modules");
  // A git worktree may share another checkout's node_modules through a link: npm ci would empty that one.
  if (existsSync(modules) && lstatSync(modules).isSymbolicLink()) return;
  const lock = join(root, "package-lock.json");
  const marker = join(modules, ".package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs && existsSync(join(modules, ".bin", "bun"))) return;
  console.log("setup: npm ci");
  execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
}

function installed(pkg) {
  return spawnSync("dpkg", ["-s", pkg], { stdio: "ignore" }).status === 0;
}

function aptInstall(tools, packages) {
  const missing = [
    ...new Set([...Object.entries(tools).filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg), ...packages.filter((pkg) => !installed(pkg))]),
  ];
  if (!missing.length) return;
  if (process.getuid?.() !== 0 || !have("apt-get")) {
    console.log(`setup: not root or no apt-get; tests needing ${missing.join(", ")} will say they are skipped`);
    return;
  }
  console.log(`setup: apt-get install ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { stdio: "inherit", env });
}

const extra = process.argv.slice(2);
npmInstall();
aptInstall(extra.includes("--bench") ? { ...DEBIAN_TOOLS, ...BENCH_TOOLS } : DEBIAN_TOOLS, [...DEBIAN_PACKAGES, ...APPLIANCE_PACKAGES]);
