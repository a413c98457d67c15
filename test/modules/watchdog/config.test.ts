/** The [watchdog] section and its rules on the resource manager's watchdog fence devices. */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { MODULES } from "../../../modules/index.ts";

function problems(nodes: string, sections: string) {
  const r = parseConfig(`cluster = "wd"\nkey_file = "cluster.key"\n${nodes}\n${sections}`, "wd.toml", MODULES);
  return r.ok ? r.warnings.map((w) => ({ severity: "warning", path: w.path.join("."), message: w.message })) : r.problems.map((p) => ({ severity: "error", path: p.path.join("."), message: p.message }));
}

const PAIR = `[[nodes]]\nname = "alpha"\naddress = "198.18.1.11"\n[[nodes]]\nname = "bravo"\naddress = "198.18.1.12"`;
const ARBITER = `${PAIR}\n[[nodes]]\nname = "witness"\naddress = "198.18.1.13"\nroles = ["arbiter"]`;
const HB2 = (witness: boolean) => `[heartbeat]\n[[heartbeat.links]]\nname = "lan"\nkind = "ucast"\n[[heartbeat.links]]\nname = "lan2"\nkind = "ucast"\naddresses = { alpha = "198.18.2.11", bravo = "198.18.2.12"${witness ? `, witness = "198.18.2.13"` : ""} }`;
const HB = HB2(true);
const FENCE = (timeout = "60s") => `[resources]\n[[resources.fence_device]]\nname = "wd"\nagent = "watchdog"\ntimeout = "${timeout}"`;

describe("[watchdog]", () => {
  test("defaults: /dev/watchdog, 10s; with an arbiter a watchdog fence device draws no finding", () => {
    const r = parseConfig(`cluster = "wd"\nkey_file = "cluster.key"\n${ARBITER}\n${HB}\n[watchdog]\n${FENCE()}`, "wd.toml", MODULES);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.raw.watchdog).toEqual({ device: "/dev/watchdog", timeout: "10s" });
    expect(r.warnings).toEqual([]);
  });

  test.each([
    ["1500ms", "whole seconds"],
    ["1s", "whole seconds from 2s to 255s"],
    ["5m", "whole seconds from 2s to 255s"],
  ])("timeout %s is refused", (timeout, message) => {
    expect(problems(ARBITER, `${HB}\n[watchdog]\ntimeout = "${timeout}"`)).toContainEqual(expect.objectContaining({ severity: "error", path: "watchdog.timeout", message: expect.stringContaining(message) }));
  });

  test("a device outside /dev is refused by the schema", () => {
    expect(problems(ARBITER, `${HB}\n[watchdog]\ndevice = "/tmp/wd"`)).toContainEqual(expect.objectContaining({ severity: "error", path: "watchdog.device" }));
  });

  test("a watchdog fence device needs [watchdog] and a timeout above twice its timeout", () => {
    expect(problems(ARBITER, `${HB}\n${FENCE()}`)).toContainEqual(expect.objectContaining({ severity: "error", path: "resources.fence_device.0.agent", message: expect.stringContaining("needs a [watchdog] section") }));
    expect(problems(ARBITER, `${HB}\n[watchdog]\ntimeout = "30s"\n${FENCE("60s")}`)).toContainEqual(expect.objectContaining({ severity: "error", path: "resources.fence_device.0.timeout", message: expect.stringContaining("twice the watchdog timeout (60s)") }));
    expect(problems(ARBITER, `${HB}\n[watchdog]\ntimeout = "29s"\n${FENCE("60s")}`)).toEqual([]);
  });

  test("a watchdog fence device takes no params and no host_map", () => {
    expect(problems(ARBITER, `${HB}\n[watchdog]\n${FENCE()}\nparams = { a = "b" }`)).toContainEqual(expect.objectContaining({ severity: "error", message: expect.stringContaining("takes no params") }));
    expect(problems(ARBITER, `${HB}\n[watchdog]\n${FENCE()}\nhost_map = { bravo = "b" }`)).toContainEqual(expect.objectContaining({ severity: "error", message: expect.stringContaining("has no host_map") }));
  });

  test("in a pair without an arbiter, watchdog fencing is warned about: it does not cover a cut link", () => {
    expect(problems(PAIR, `${HB2(false)}\n[watchdog]\n${FENCE()}`)).toEqual([
      { severity: "warning", path: "resources.fence_device.0", message: expect.stringContaining("not a cut link") },
    ]);
  });
});
