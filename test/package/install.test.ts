/**
 * The .deb on this machine (as root, where no tandem package is installed):
 * dpkg -i, `tandem --version` from the path, systemd-analyze verify of the
 * installed unit, then dpkg -r and dpkg -P leaving nothing behind.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEB, VERSION, canPackage, ensureDeb, sh } from "./deb.ts";

const CONFFILE = "/etc/tandem/tandem.toml";
const STATE_DIR = "/var/lib/tandem";
const HAVE = canPackage();
const ROOT_USER = process.getuid?.() === 0;
if (!ROOT_USER) console.log("skip: dpkg -i/-r/-P test: not root");
const ALREADY_INSTALLED = sh(["dpkg-query", "-W", "-f=${Status}", "tandem"]).stdout.includes("installed");
if (ALREADY_INSTALLED) console.log("skip: dpkg -i/-r/-P test: a tandem package is installed on this machine; it is left alone");

describe.skipIf(!HAVE || !ROOT_USER || ALREADY_INSTALLED)("the .deb installed: dpkg -i, then -r and -P", () => {
  let files: string[] = [];
  const existedBefore = new Set<string>();

  beforeAll(() => expect(ensureDeb().code).toBe(0));

  test("dpkg -i installs it; tandem --version runs from the path; systemd-analyze verify accepts the unit", () => {
    const listed = sh(["dpkg-deb", "-c", DEB]).stdout.split("\n").filter(Boolean).map((l) => l.slice(l.indexOf("./") + 1).replace(/\/$/, "") || "/");
    for (const p of listed) if (existsSync(p)) existedBefore.add(p);
    const r = sh(["dpkg", "-i", DEB], { DEBIAN_FRONTEND: "noninteractive" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    files = sh(["dpkg-query", "-L", "tandem"]).stdout.split("\n").filter((l) => l && l !== "/.");
    expect(files).toContain("/usr/bin/tandem");
    const v = sh(["sh", "-c", "tandem --version"], { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
    expect(v.stdout).toBe(`tandem ${VERSION}\n`);
    if (Bun.which("systemd-analyze")) {
      const verify = sh(["systemd-analyze", "verify", "/lib/systemd/system/tandem.service"]);
      // It loads the units ours names (multi-user.target and what that wants): their complaints are not ours.
      const ours = verify.stderr.split("\n").filter((l) => l && (!/^\/\S+\.\w+:\d+: /.test(l) || l.includes("tandem")));
      expect(ours).toEqual([]);
      expect(verify.code).toBe(0);
    } else console.log("skip: systemd-analyze is not installed");
  }, 60_000);

  test("dpkg -r removes all but the conffile; dpkg -P removes that and the state dir the unit made", () => {
    expect(files.length).toBeGreaterThan(0);
    // What systemd's StateDirectory= makes when the unit first runs (unless this machine has one already: left alone).
    const ownStateDir = !existsSync(STATE_DIR);
    if (ownStateDir) {
      mkdirSync(STATE_DIR);
      writeFileSync(join(STATE_DIR, "alpha.state.json"), "{}");
    }
    expect(sh(["dpkg", "-r", "tandem"]).code).toBe(0);
    expect(sh(["dpkg-query", "-W", "-f=${Status}", "tandem"]).stdout).toBe("deinstall ok config-files");
    for (const f of files) if (!existedBefore.has(f) && f !== CONFFILE && f !== "/etc/tandem") expect([f, existsSync(f)]).toEqual([f, false]);
    expect(existsSync(CONFFILE)).toBe(true);
    expect(sh(["dpkg", "-P", "tandem"]).code).toBe(0);
    for (const f of files) if (!existedBefore.has(f)) expect([f, existsSync(f)]).toEqual([f, false]);
    if (ownStateDir) expect(existsSync(STATE_DIR)).toBe(false);
    expect(sh(["dpkg-query", "-W", "tandem"]).code).not.toBe(0);
    expect(existsSync("/var/lib/dpkg/info/tandem.list")).toBe(false);
  }, 60_000);
});
