/**
 * A file system on a volume served over NBD, where the machine has no kernel
 * NBD client: nbdfuse exposes the export as a file, a loop device makes it a
 * block device, mkfs and mount take it from there (root, /dev/fuse and
 * /dev/loop-control). What the volume tests that mount share.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./helpers.ts";

export const canMount = (): boolean => process.getuid?.() === 0 && existsSync("/dev/fuse") && existsSync("/dev/loop-control");

/** A command's exit code and output (stdout then stderr). */
export function run(argv: string[], timeout = 30_000): { code: number | null; out: string } {
  const r = Bun.spawnSync(argv, { timeout, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** A command that must succeed: its output, or a throw naming it. */
export function ok(argv: string[], timeout?: number): string {
  const r = run(argv, timeout);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.out}`);
  return r.out;
}

export interface Attached {
  loop: string;
  fuse: ReturnType<typeof Bun.spawn>;
}

/** nbdfuse on `socket` in `fuseDir`, and a loop device on its file (of its first `sizeLimit` bytes when given). */
export async function attach(socket: string, fuseDir: string, sizeLimit?: number): Promise<Attached> {
  const fuse = Bun.spawn(["nbdfuse", join(fuseDir, "vol"), "--unix", socket], { stdout: "ignore", stderr: "pipe" });
  await waitFor("nbdfuse's file", () => existsSync(join(fuseDir, "vol")) || undefined, 10_000);
  const limit = sizeLimit !== undefined ? ["--sizelimit", String(sizeLimit)] : [];
  return { loop: ok(["losetup", "-f", "--show", ...limit, join(fuseDir, "vol")]).trim(), fuse };
}

/** Undoes attach (and a mount on `mnt`), lazily: the export may be gone (its server killed). */
export async function detach(a: Attached, fuseDir: string, mnt: string): Promise<void> {
  run(["umount", "-l", mnt]);
  run(["losetup", "-d", a.loop]);
  run(["fusermount3", "-u", "-z", fuseDir]);
  a.fuse.kill("SIGKILL");
  await a.fuse.exited;
}
