/** The .deb the package tests share: built by scripts/package.mjs once, again only when an input is newer. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import pkg from "../../package.json" with { type: "json" };

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist", "tandem");
export const DEB = join(ROOT, "dist", `tandem_${pkg.version}_amd64.deb`);
export const VERSION = pkg.version;

export function sh(argv: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Whether the package can be built here; says why not. */
export function canPackage(): boolean {
  const ok = existsSync(BIN) && !!Bun.which("dpkg-deb");
  if (!ok) console.log("skip: test/package: needs dist/tandem (node scripts/build.mjs) and dpkg-deb");
  return ok;
}

const inDir = (dir: string) => readdirSync(join(ROOT, dir)).map((f) => join(ROOT, dir, f));
const INPUTS = [BIN, join(ROOT, "scripts", "package.mjs"), join(ROOT, "package.json"), join(ROOT, "docs", "configuration.md"), ...inDir("examples"), ...inDir("packaging")];

/** Builds the .deb unless it is newer than everything it is made of; the output of scripts/package.mjs. */
export function ensureDeb(): { code: number; stdout: string; stderr: string } {
  if (existsSync(DEB) && INPUTS.every((f) => statSync(f).mtimeMs < statSync(DEB).mtimeMs)) return { code: 0, stdout: `${DEB}\n`, stderr: "" };
  return sh(["node", "scripts/package.mjs"]);
}
