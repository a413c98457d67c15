/** The importers' real inputs (test/cmd/import/**), read once, and the configs the importers write from them. */
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { importHeartbeat, type HeartbeatFiles } from "../../import/heartbeat/index.ts";
import { importKeepalived, type IncludeReader } from "../../import/keepalived/index.ts";
import { importLdirectord } from "../../import/ldirectord/index.ts";
import { importHaproxy } from "../../import/haproxy/index.ts";

const IMPORT = join(import.meta.dir, "..", "cmd", "import");
const read = (...parts: string[]) => readFileSync(join(IMPORT, ...parts), "utf8");

/** Every file under test/cmd/import/DIR, by its name relative to DIR, in sorted order. */
function filesUnder(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(join(IMPORT, dir), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => relative(join(IMPORT, dir), join(d.parentPath, d.name)))
      .sort()
      .map((f) => [f, read(dir, f)]),
  );
}

/** Heartbeat v1's files, by directory (web, links and the field sets): haresources, ha.cf, authkeys, hosts (those present). */
export const HEARTBEAT: Record<string, Partial<Record<"haresources" | "ha.cf" | "authkeys" | "hosts", string>>> = Object.fromEntries(
  ["web", "links", ...readdirSync(join(IMPORT, "heartbeat-field")).map((set) => join("heartbeat-field", set))].map((dir) => [dir, Object.fromEntries(readdirSync(join(IMPORT, dir)).map((f) => [f, read(dir, f)]))]),
);

/** keepalived's files, by name relative to test/cmd/import/keepalived, those in its folders too (the includes name each other so). */
export const KEEPALIVED = filesUnder("keepalived");

/** ldirectord.cf files, by name: web.cf and the field ones. */
export const LDIRECTORD: Record<string, string> = {
  "web.cf": read("ldirectord", "web.cf"),
  ...Object.fromEntries(readdirSync(join(IMPORT, "ldirectord", "field")).map((f) => [f, read("ldirectord", "field", f)])),
};

/** DRBD's files, by name relative to test/cmd/import/drbd (drbd.conf's includes name each other so). */
export const DRBD = filesUnder("drbd");

/** haproxy.cfg files, by name. */
export const HAPROXY: Record<string, string> = Object.fromEntries(readdirSync(join(IMPORT, "haproxy")).map((f) => [f, read("haproxy", f)]));

/** Files in memory as keepalived's include reader: a pattern matches as its glob would. */
export function memoryReader(files: Record<string, string>): IncludeReader {
  return {
    expand: (pattern) => Object.keys(files).filter((f) => new Bun.Glob(pattern).match(f)).sort(),
    read: (f) => (Object.hasOwn(files, f) ? { text: files[f]!, id: f } : { error: "ENOENT: no such file or directory" }),
  };
}

export function heartbeatFiles(texts: Partial<Record<"haresources" | "ha.cf" | "authkeys" | "hosts", string>>): HeartbeatFiles {
  return {
    haresources: { file: "haresources", text: texts.haresources ?? "" },
    ...(texts["ha.cf"] !== undefined ? { haCf: { file: "ha.cf", text: texts["ha.cf"] } } : {}),
    ...(texts.authkeys !== undefined ? { authkeys: { file: "authkeys", text: texts.authkeys, mode: 0o600 } } : {}),
    ...(texts.hosts !== undefined ? { hosts: { file: "hosts", text: texts.hosts } } : {}),
  };
}

/** The configs the importers write from the real inputs (the ldirectord and haproxy sections after a pair's head). */
export function importedConfigs(): string[] {
  const head = readFileSync(join(import.meta.dir, "..", "..", "examples", "pair.toml"), "utf8");
  const out = [
    ...Object.values(HEARTBEAT).map((t) => importHeartbeat(heartbeatFiles(t)).toml),
    ...Object.keys(KEEPALIVED).filter((f) => f.endsWith(".conf")).map((f) => importKeepalived({ file: f, peers: [], reader: memoryReader(KEEPALIVED) }).toml),
    ...[...Object.keys(LDIRECTORD).map((f) => importLdirectord(f, LDIRECTORD[f]!).toml), ...Object.keys(HAPROXY).map((f) => importHaproxy({ file: f, text: HAPROXY[f]! }).toml)].map((t) =>
      t === undefined ? undefined : `${head}\n${t}`,
    ),
  ];
  return out.filter((t) => t !== undefined);
}
