/** What the drbd import tests share: files on disk or in memory as drbdadm reads them, and what `tandem check` says of the output. */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parse as parseToml } from "smol-toml";
import { parseConfig } from "../../core/config/load.ts";
import { formatPath } from "../../core/config/problems.ts";
import { importDrbd, type IncludeReader } from "../../import/drbd/index.ts";
import { MODULES } from "../../modules/index.ts";
import { printed } from "./import-lvs.ts";

export const DRBD = join(import.meta.dir, "import", "drbd");

/** The files under test/cmd/import/drbd, by glob. */
export const disk: IncludeReader = {
  expand: (pattern) => [...new Bun.Glob(relative(DRBD, pattern)).scanSync({ cwd: DRBD })].sort().map((f) => join(DRBD, f)),
  read: (f) => (existsSync(f) ? { text: readFileSync(f, "utf8"), id: f } : { error: "ENOENT: no such file or directory" }),
};

/** Files in memory: a pattern matches as its glob would. */
export function memory(files: Record<string, string>): IncludeReader {
  return {
    expand: (pattern) => Object.keys(files).filter((f) => new Bun.Glob(pattern).match(f)).sort(),
    read: (f) => (Object.hasOwn(files, f) ? { text: files[f]!, id: f } : { error: "ENOENT: no such file or directory" }),
  };
}

/** One .res text imported (named r.res), with its findings as printed. */
export const one = (text: string, extra: Record<string, string> = {}) => printed(importDrbd({ file: "r.res", reader: memory({ "r.res": text, ...extra }) }));

export interface VolumeOut {
  name: string;
  size: string;
  port: number | string;
  on: Array<{ node: string; device: string }>;
  protocol: string;
  metadata: string;
  resync_rate?: string;
  split_brain?: string;
}

export const volumesOf = (toml: string) => ((parseToml(toml) as { volumes?: VolumeOut[] }).volumes ?? []);

/**
 * What `tandem check` refuses in the written [[volumes]] once its TODOs are
 * filled (a size of 1G, a port, a node's name): the volumes after a head
 * whose member nodes are those the volumes name.
 */
export function checkProblems(toml: string): string[] {
  let port = 17000;
  const filled = toml
    .replace(/size = "TODO[^"]*"/g, 'size = "1G"')
    .replace(/port = "TODO[^"]*"/g, () => `port = ${port++}`)
    .replace(/"TODO: the node at ([^"]*)"/g, (_, ip: string) => `"n-${ip.replace(/[^0-9a-f]+/g, "-")}"`);
  const nodes = [...new Set(volumesOf(filled).flatMap((v) => v.on.map((o) => o.node)))];
  const head = [`cluster = "drbd"`, `key_file = "cluster.key"`, ...nodes.map((n, i) => `[[nodes]]\nname = "${n}"\naddress = "198.18.90.${i + 1}"\nroles = ["member"]`)].join("\n");
  const r = parseConfig(`${head}\n${filled}`, "imported.toml", MODULES);
  return r.ok ? [] : r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`);
}
