/**
 * The appliance's settings (appliance/rootfs/lib/tandem-appliance/settings.sh)
 * run by busybox's shell here, as /init runs them: every value is checked
 * before it is kept, so /run/tandem/env (which the helpers source) holds only
 * values of their form, whatever appliance.conf or the kernel command line
 * say; the cluster key, the API token and the console's password hash never
 * come from the command line; a config may.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { TEST_CONSOLE } from "../../appliance/vm.ts";

const SETTINGS = resolve(import.meta.dir, "../../appliance/rootfs/lib/tandem-appliance/settings.sh");
const BUSYBOX = "/bin/busybox";
const why = existsSync(BUSYBOX) ? undefined : "needs busybox (busybox-static), the appliance's shell";
if (why) console.log(`skip: appliance settings: ${why}`);

const TEST_PASSWORD_HASH = TEST_CONSOLE.hash;

const dir = mkdtempSync(join(tmpdir(), "appliance-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the settings on `conf` (appliance.conf's text) then `cmdline`; the env file written, what was said, and the config written. */
function settle(conf: string, cmdline: string): { env: Record<string, string>; said: string; config: string | undefined; hash: string } {
  const run = mkdtempSync(join(dir, "run-"));
  writeFileSync(join(run, "appliance.conf"), conf);
  writeFileSync(join(run, "cmdline"), cmdline);
  const script = `. "${SETTINGS}"; CONFIG_DIR="${run}"; DATA="$1"; settings_from_conf "${run}/appliance.conf"; settings_from_cmdline "$(cat "${run}/cmdline")"; write_env "${run}/env"; echo "hash=$PASSWORD_HASH" > "${run}/hash"; echo "ips=$IPS gw=$GW cfgwait=$CFGWAIT" >> "${run}/hash"`;
  const r = spawnSync(BUSYBOX, ["sh", "-c", script, "settings", process.env.SETTINGS_DATA ?? "/dev/vdb"], { encoding: "utf8", timeout: 10_000 });
  expect(r.status).toBe(0);
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(run, "env"), "utf8").split("\n").filter(Boolean)) {
    const m = /^([A-Z]+)='([^']*)'$/.exec(line);
    expect(m).not.toBeNull();
    env[m![1]!] = m![2]!;
  }
  const config = existsSync(join(run, "tandem.toml")) ? readFileSync(join(run, "tandem.toml"), "utf8") : undefined;
  return { env, said: r.stdout, config, hash: readFileSync(join(run, "hash"), "utf8") };
}

describe.skipIf(why !== undefined)("appliance settings", () => {
  test("good values are kept, the command line winning", () => {
    const r = settle("node=alpha\nlog=file\nip=eth0:198.18.7.11/24\n", "console=ttyS0 tandem.node=bravo tandem.log=console tandem.gw=198.18.7.1 tandem.cfgwait=3");
    expect(r.env).toEqual({ NODE: "bravo", LOG: "console", DATA: "/dev/vdb" });
    expect(r.hash).toContain("ips= eth0:198.18.7.11/24 gw=198.18.7.1 cfgwait=3");
    expect(r.said).toBe("");
  });

  test.each([
    ["node", "x'; reboot; echo '"],
    ["node", "Alpha"],
    ["node", "$(reboot)"],
    ["log", "console'; reboot #"],
    ["ip", "eth0:198.18.7.11/24;reboot"],
    ["gw", "198.18.7.1 && reboot"],
    ["cfgwait", "5; reboot"],
  ])("a bad %s (%s) is refused, said, and never reaches the env file", (key, value) => {
    const r = settle(`${key}=${value}\n`, "");
    expect(r.said).toContain(`setting ${key} ignored`);
    expect(r.env).toEqual({ NODE: "", LOG: "file", DATA: "/dev/vdb" });
    expect(r.hash).toContain("ips= gw= cfgwait=5");
  });

  test("the data device is written only when it is a device path", () => {
    process.env.SETTINGS_DATA = "/dev/vdb'; reboot; '";
    try {
      expect(settle("", "").env.DATA).toBe("");
    } finally {
      delete process.env.SETTINGS_DATA;
    }
  });

  test("the cluster key and the API token are never taken from the command line, nor from appliance.conf", () => {
    const b64 = Buffer.from("secret").toString("base64");
    const r = settle(`key=${b64}\n`, `tandem.key=${b64} tandem.token=${b64}`);
    expect(r.said).toContain("tandem.key is ignored: the cluster key and the API token come from the config disk");
    expect(r.said).toContain("tandem.token is ignored");
    expect(r.config).toBeUndefined();
  });

  test("the console's password hash comes from appliance.conf only, and only in crypt(3) form", () => {
    expect(settle(`password_hash=${TEST_PASSWORD_HASH}\n`, "").hash).toContain(`hash=${TEST_PASSWORD_HASH}\n`);
    const fromCmdline = settle("", `tandem.password_hash=${TEST_PASSWORD_HASH}`);
    expect(fromCmdline.hash).toContain("hash=\n");
    expect(fromCmdline.said).toContain("password_hash on the kernel command line is ignored");
    const plain = settle("password_hash=hunter2\n", "");
    expect(plain.hash).toContain("hash=\n");
    expect(plain.said).toContain("setting password_hash ignored");
  });

  test("a config may come from the command line (base64, without secrets)", () => {
    const toml = 'cluster = "pair"\nkey_file = "cluster.key"\n';
    const r = settle("", `tandem.config=${Buffer.from(toml).toString("base64")}`);
    expect(r.config).toBe(toml);
    expect(settle("", "tandem.config=not;base64").config).toBeUndefined();
  });

  test("an unknown setting is said and ignored", () => {
    expect(settle("shell=/bin/sh\n", "").said).toContain('unknown setting "shell" ignored');
  });
});
