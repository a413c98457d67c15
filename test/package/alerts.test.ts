/** examples/alerts.yml: promtool check rules and test rules (Debian's prometheus), a test case for each alert, metric names that exist. */
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { haveDebianPackage } from "../helpers.ts";

const ROOT = resolve(import.meta.dir, "../..");
const RULES = join(ROOT, "examples", "alerts.yml");
const CASES = join(import.meta.dir, "alerts.promtool.yml");
const HAVE_PROMTOOL = haveDebianPackage("prometheus", "/usr/bin/promtool", "promtool tests of examples/alerts.yml");

interface Rule {
  alert: string;
  expr: string;
}
interface Case {
  alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }>;
}

const rules = (Bun.YAML.parse(readFileSync(RULES, "utf8")) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const cases = (Bun.YAML.parse(readFileSync(CASES, "utf8")) as { tests: Case[] }).tests.flatMap((t) => t.alert_rule_test);

function promtool(args: string[]) {
  const r = Bun.spawnSync(["promtool", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

describe.skipIf(!HAVE_PROMTOOL)("promtool", () => {
  test("check rules accepts the file", () => {
    const r = promtool(["check", "rules", RULES]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code).toBe(0);
  });

  test("test rules: every case passes", () => {
    const r = promtool(["test", "rules", CASES]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });
});

test("the rules page for peer down, quorum lost, all real servers down, state write failing, a volume's split brain; they warn of a stalled resync", () => {
  expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(["TandemPeerDown", "TandemQuorumLost", "TandemAllRealServersDown", "TandemStateWriteFailing", "TandemVolumeSplitBrain", "TandemVolumeResyncStalled"]));
});

test("every alert has a case where it fires and one where it stays quiet", () => {
  for (const r of rules) {
    const mine = cases.filter((c) => c.alertname === r.alert);
    expect([r.alert, mine.some((c) => c.exp_alerts.length > 0)]).toEqual([r.alert, true]);
    expect([r.alert, mine.some((c) => c.exp_alerts.length === 0)]).toEqual([r.alert, true]);
  }
});

test("every metric the rules read is one a module or core exports today", () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [readFileSync(join(dir, e.name), "utf8")] : []));
  const code = [...sources(join(ROOT, "core")), ...sources(join(ROOT, "modules")), ...sources(join(ROOT, "cmd"))].join("\n");
  const used = new Set(rules.flatMap((r) => r.expr.match(/\btandem_[a-z_]+/g) ?? []));
  expect(used.size).toBeGreaterThan(4);
  for (const name of used) expect([name, code.includes(`"${name}"`)]).toEqual([name, true]);
});
