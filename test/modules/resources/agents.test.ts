/**
 * The agent runners against real processes: Debian's ocf:heartbeat:Dummy
 * through a whole lifecycle (as root, installing resource-agents when it is
 * missing), fake OCF agents for every exit code, timeouts, cancels and floods
 * of output, an LSB init script, and the operator's own commands.
 * (IPaddr2 is not run here: it changes real interfaces; it belongs in the lab
 * tests of the address resource.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecAgent } from "../../../modules/resources/agents/exec.ts";
import { LsbAgent } from "../../../modules/resources/agents/lsb.ts";
import { SystemdAgent } from "../../../modules/resources/agents/systemd.ts";
import { checkParameters, parseMetaData, parseOcfTime, parseXml, XmlError } from "../../../modules/resources/agents/metadata.ts";
import { DEFAULT_OCF_ROOT, OCF_EXIT, OcfAgent, errorClass, ocfStatus, parsePromotionScore } from "../../../modules/resources/agents/ocf.ts";
import { OUTPUT_TAIL_BYTES, TailBuffer, runProcess } from "../../../core/os/process.ts";
import { haveDebianPackage, liveInGroup, tempDir } from "../../helpers.ts";

const DUMMY = join(DEFAULT_OCF_ROOT, "resource.d", "heartbeat", "Dummy");

const HAVE_DUMMY = haveDebianPackage("resource-agents", DUMMY, "ocf:heartbeat:Dummy tests");

const T = { timeoutMs: 20_000 };
let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("agents");
});
afterAll(() => tmp.cleanup());

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** A fake OCF_ROOT holding one agent, provider "test". */
function fakeOcf(type: string, body: string): string {
  const root = join(tmp.dir, `ocf-${type}`);
  mkdirSync(join(root, "resource.d", "test"), { recursive: true });
  script(join(root, "resource.d", "test", type), body);
  return root;
}

describe.skipIf(!HAVE_DUMMY)("ocf:heartbeat:Dummy (Debian's resource-agents)", () => {
  const dummy = (params: Record<string, string>) => new OcfAgent({ provider: "heartbeat", type: "Dummy", instance: "dummy-1", params });

  test("meta-data is read: its parameters, their defaults, its actions' advised timeouts", async () => {
    const { result, meta } = await dummy({}).metaData({ timeoutMs: 5000 });
    expect(result.status).toBe("ok");
    expect(meta!.name).toBe("Dummy");
    const state = meta!.parameters.find((p) => p.name === "state")!;
    expect(state).toMatchObject({ unique: true, required: false, type: "string" });
    expect(meta!.parameters.find((p) => p.name === "fake")).toMatchObject({ unique: false, default: "dummy" });
    expect(meta!.actions.find((a) => a.name === "monitor")).toMatchObject({ timeoutMs: 20_000, intervalMs: 10_000 });
    expect(meta!.actions.map((a) => a.name)).toContain("validate-all");
    expect(checkParameters(meta!, { stat: "/x", fake: "y" })).toEqual([{ parameter: "stat", message: 'Dummy has no parameter "stat"', hint: 'did you mean "state"?' }]);
  });

  test("a whole lifecycle: probe, start, start again, monitor, stop, stop again; the state file follows", async () => {
    const state = join(tmp.dir, "dummy.state");
    const agent = dummy({ state, fake: "x" });
    expect((await agent.run("validate-all", T)).status).toBe("ok");
    expect((await agent.run("probe", T)).status).toBe("not-running");
    expect((await agent.run("monitor", { ...T, intervalMs: 10_000 })).status).toBe("not-running");
    const start = await agent.run("start", T);
    expect(start).toMatchObject({ action: "start", status: "ok", exitCode: 0 });
    expect(start.durationMs).toBeGreaterThanOrEqual(0);
    expect(existsSync(state)).toBe(true);
    expect((await agent.run("monitor", { ...T, intervalMs: 10_000 })).status).toBe("ok");
    expect((await agent.run("start", T)).status).toBe("ok");
    expect((await agent.run("stop", T)).status).toBe("ok");
    expect(existsSync(state)).toBe(false);
    expect((await agent.run("monitor", { ...T, intervalMs: 10_000 })).status).toBe("not-running");
    expect((await agent.run("stop", T)).status).toBe("ok");
  });

  test("validate-all with a state file where none can be written: invalid-args", async () => {
    const r = await dummy({ state: join(tmp.dir, "no-such-dir", "dummy.state") }).run("validate-all", T);
    expect(r).toMatchObject({ status: "invalid-args", exitCode: 2 });
  });
});

describe("OCF agents (fake ones in a temp OCF_ROOT)", () => {
  test("every OCF exit code maps to its status; a code outside the table is failed", async () => {
    const ocfRoot = fakeOcf("Code", 'exit "$OCF_RESKEY_code"');
    for (const [code, status] of [...Object.entries(OCF_EXIT), ["42", "failed"]] as const) {
      const r = await new OcfAgent({ provider: "test", type: "Code", instance: "r", params: { code }, ocfRoot }).run("monitor", T);
      expect([r.exitCode, r.status]).toEqual([Number(code), status]);
    }
  });

  test("each exit code is graded as Pacemaker grades it: 2 to 5 hard (ban the node), 6 fatal (stop everywhere), the rest soft", () => {
    const graded = Object.fromEntries([...Object.keys(OCF_EXIT), "42"].map((code) => [code, errorClass(ocfStatus(Number(code)).status)]));
    expect(graded).toEqual({ 0: "soft", 1: "soft", 2: "hard", 3: "hard", 4: "hard", 5: "hard", 6: "fatal", 7: "soft", 8: "soft", 9: "soft", 190: "soft", 191: "soft", 42: "soft" });
  });

  test("the environment is Pacemaker's: OCF_ROOT, instance, type, provider, parameters, timeout and interval in ms", async () => {
    const ocfRoot = fakeOcf("Env", "env | grep -E '^OCF_' | sort; echo \"ARG=$1\"");
    const agent = new OcfAgent({ provider: "test", type: "Env", instance: "web-ip", params: { ip: "198.18.0.10", cidr_netmask: "24" }, ocfRoot });
    const env = (r: { output: string }) => Object.fromEntries(r.output.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const monitor = env(await agent.run("monitor", { timeoutMs: 15_000, intervalMs: 10_000 }));
    expect(monitor).toEqual({
      ARG: "monitor",
      OCF_ROOT: ocfRoot,
      OCF_FUNCTIONS_DIR: join(ocfRoot, "lib", "heartbeat"),
      OCF_RA_VERSION_MAJOR: "1",
      OCF_RA_VERSION_MINOR: "1",
      OCF_RESOURCE_INSTANCE: "web-ip",
      OCF_RESOURCE_TYPE: "Env",
      OCF_RESOURCE_PROVIDER: "test",
      OCF_RESKEY_ip: "198.18.0.10",
      OCF_RESKEY_cidr_netmask: "24",
      OCF_RESKEY_CRM_meta_timeout: "15000",
      OCF_RESKEY_CRM_meta_interval: "10000",
    });
    const probe = env(await agent.run("probe", T));
    expect([probe.ARG, probe.OCF_RESKEY_CRM_meta_interval]).toEqual(["monitor", "0"]);
    const start = env(await agent.run("start", T));
    expect([start.ARG, start.OCF_RESKEY_CRM_meta_interval]).toEqual(["start", undefined]);
  });

  test("a promotion score set with crm_master or crm_attribute -p (as ocf_promotion_score and DRBD's agent do) comes with every answer; -D is -INFINITY; crm_attribute for anything else fails", async () => {
    const ocfRoot = fakeOcf(
      "Promo",
      [
        'case "$1" in',
        '  start) crm_master -l reboot -v 42; echo "query=$(crm_master -Q -l reboot -G)";;',
        '  promote) "$HA_SBIN_DIR/crm_attribute" -p -v INFINITY;;',
        "  stop) crm_attribute -p -D;;",
        '  validate-all) crm_attribute -n pingd -v 100; exit $?;;',
        "esac",
        "exit 0",
      ].join("\n"),
    );
    const agent = new OcfAgent({ provider: "test", type: "Promo", instance: "promo-1", params: {}, ocfRoot });
    const start = await agent.run("start", T);
    expect(start).toMatchObject({ status: "ok", promotionScore: 42 });
    expect(start.output).toContain("query=42");
    expect((await agent.run("monitor", T)).promotionScore).toBe(42);
    expect((await agent.run("promote", T)).promotionScore).toBe(1_000_000);
    expect((await agent.run("stop", T)).promotionScore).toBe(-1_000_000);
    const other = await agent.run("validate-all", T);
    expect(other).toMatchObject({ status: "failed", exitCode: 1 });
    expect(other.output).toContain("Tandem keeps promotion scores only");
    expect(parsePromotionScore("-20\n")).toBe(-20);
    expect(parsePromotionScore("99999999")).toBe(1_000_000);
    expect(parsePromotionScore("ten")).toBeNull();
  });

  test("an agent that is not there is not-installed, and nothing is run", async () => {
    const r = await new OcfAgent({ provider: "test", type: "Missing", instance: "r", ocfRoot: join(tmp.dir, "none") }).run("start", T);
    expect(r).toMatchObject({ status: "not-installed", exitCode: null });
    expect(r.message).toContain(join(tmp.dir, "none", "resource.d", "test", "Missing"));
  });

  test("a timeout kills the whole process group, forks included, and answers timeout", async () => {
    const pids = join(tmp.dir, "sleeper.pids");
    const ocfRoot = fakeOcf("Sleeper", `sleep 300 & echo "$$ $!" > ${pids}; sleep 300`);
    const r = await new OcfAgent({ provider: "test", type: "Sleeper", instance: "r", ocfRoot }).run("start", { timeoutMs: 300, killGraceMs: 500 });
    expect(r.status).toBe("timeout");
    expect(r.exitCode).toBeNull();
    expect(r.message).toContain("no answer within 300 ms");
    expect(r.durationMs).toBeGreaterThanOrEqual(300);
    const [leader, fork] = readFileSync(pids, "utf8").trim().split(" ").map(Number);
    expect(leader).toBeGreaterThan(0);
    expect(fork).not.toBe(leader);
    expect(liveInGroup(leader!)).toEqual([]);
  });

  test("an agent that ignores SIGTERM gets SIGKILL after the grace", async () => {
    const pids = join(tmp.dir, "stubborn.pids");
    const ocfRoot = fakeOcf("Stubborn", `trap '' TERM; echo $$ > ${pids}; while :; do sleep 0.05; done`);
    const r = await new OcfAgent({ provider: "test", type: "Stubborn", instance: "r", ocfRoot }).run("stop", { timeoutMs: 200, killGraceMs: 400 });
    expect(r.status).toBe("timeout");
    expect(r.message).toContain("SIGKILL after 400 ms");
    expect(r.durationMs).toBeGreaterThanOrEqual(600);
    expect(liveInGroup(Number(readFileSync(pids, "utf8")))).toEqual([]);
  });

  test("an abort signal cancels: the group is killed and the answer is cancelled", async () => {
    const pids = join(tmp.dir, "cancel.pids");
    const ocfRoot = fakeOcf("Slow", `echo $$ > ${pids}; sleep 300`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await new OcfAgent({ provider: "test", type: "Slow", instance: "r", ocfRoot }).run("start", { timeoutMs: 60_000, signal: ac.signal });
    expect(r.status).toBe("cancelled");
    expect(r.durationMs).toBeLessThan(5000);
    expect(liveInGroup(Number(readFileSync(pids, "utf8")))).toEqual([]);
    expect((await new OcfAgent({ provider: "test", type: "Slow", instance: "r", ocfRoot }).run("start", { timeoutMs: 1000, signal: ac.signal })).message).toBe("cancelled before it started");
  });

  test("megabytes of output: the result keeps the last 4 KiB of stdout and stderr and counts them all", async () => {
    const ocfRoot = fakeOcf("Loud", "head -c 6000000 /dev/zero | tr '\\0' x; echo; echo 'the end' >&2; exit 1");
    const r = await new OcfAgent({ provider: "test", type: "Loud", instance: "r", ocfRoot }).run("start", T);
    expect(r.status).toBe("failed");
    expect(r.outputBytes).toBe(6_000_000 + 1 + 8);
    expect(r.output.length).toBe(OUTPUT_TAIL_BYTES);
    expect(r.output.endsWith("x\nthe end\n")).toBe(true);
  });

  test("an agent killed by a signal is an error that says so", async () => {
    const ocfRoot = fakeOcf("Crash", "kill -SEGV $$");
    const r = await new OcfAgent({ provider: "test", type: "Crash", instance: "r", ocfRoot }).run("monitor", T);
    expect(r).toMatchObject({ status: "error", exitCode: null, message: "killed by SIGSEGV" });
  });

  test("meta-data that is not meta-data: error, with the reason", async () => {
    const ocfRoot = fakeOcf("Garbage", "echo '<resource-agent name=\"G\"><parameters>'");
    const { result, meta } = await new OcfAgent({ provider: "test", type: "Garbage", instance: "r", ocfRoot }).metaData(T);
    expect(meta).toBeNull();
    expect(result.status).toBe("error");
    expect(result.message).toBe("meta-data unreadable: <parameters> is never closed");
  });

  test("parameter names that cannot be environment names are refused", () => {
    expect(() => new OcfAgent({ provider: "test", type: "X", instance: "r", params: { "a-b": "1" } })).toThrow(RangeError);
    expect(() => new OcfAgent({ provider: "..", type: "X", instance: "r" })).toThrow(RangeError);
  });
});

describe("the meta-data reader", () => {
  const XML = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [ <!ENTITY x "y"> ]>
<!-- a comment <with> a tag -->
<resource-agent name="Web" version="2.1">
<shortdesc lang="en">Serves &lt;web&gt; &amp; more &#x41;&#66;</shortdesc>
<parameters>
<parameter name="port" required="1" unique='1'>
<shortdesc><![CDATA[TCP <port>]]></shortdesc>
<content type="integer" default="80"/>
</parameter>
<parameter name="root"><content type="string"/></parameter>
</parameters>
<actions>
<action name="start" timeout="40" />
<action name="monitor" timeout="1min" interval="500ms"/>
<action name="stop" timeout="soon"/>
</actions>
</resource-agent>
`;

  test("elements, attributes, entities, CDATA; comments, the DOCTYPE and the declaration skipped", () => {
    expect(parseMetaData(XML)).toEqual({
      name: "Web",
      version: "2.1",
      shortdesc: "Serves <web> & more AB",
      parameters: [
        { name: "port", required: true, unique: true, type: "integer", default: "80", shortdesc: "TCP <port>" },
        { name: "root", required: false, unique: false, type: "string", default: null, shortdesc: "" },
      ],
      actions: [
        { name: "start", timeoutMs: 40_000, intervalMs: null },
        { name: "monitor", timeoutMs: 60_000, intervalMs: 500 },
        { name: "stop", timeoutMs: null, intervalMs: null },
      ],
    });
  });

  test("checks: a required parameter missing, an unknown one with or without a guess", () => {
    const meta = parseMetaData(XML);
    expect(checkParameters(meta, { port: "8080", root: "/srv" })).toEqual([]);
    expect(checkParameters(meta, { prot: "8080", colour: "red" })).toEqual([
      { parameter: "port", message: 'required parameter "port" of Web is missing' },
      { parameter: "prot", message: 'Web has no parameter "prot"', hint: 'did you mean "port"?' },
      { parameter: "colour", message: 'Web has no parameter "colour"', hint: "its parameters: port, root" },
    ]);
  });

  test("OCF times: seconds without a unit, ms, s, min, h; anything else is null", () => {
    expect([parseOcfTime("20"), parseOcfTime("20s"), parseOcfTime("90ms"), parseOcfTime("2m"), parseOcfTime("1h"), parseOcfTime("1.5s")]).toEqual([20_000, 20_000, 90, 120_000, 3_600_000, 1500]);
    expect([parseOcfTime("x"), parseOcfTime("5 fortnights"), parseOcfTime(undefined)]).toEqual([null, null, null]);
  });

  test.each([
    ["a mismatched end tag", "<a><b></a>", "line 1: </a> does not close <b>"],
    ["an element never closed", "<a>", "<a> is never closed"],
    ["two roots", "<a/><b/>", "line 1: a second root element <b>"],
    ["text alone", "text", "line 1: text outside the root element"],
    ["an unknown entity", "<a>&nbsp;</a>", "line 1: unknown entity &nbsp;"],
    ["a character reference out of range", "<a>&#xFFFFFFF;</a>", "line 1: bad character reference &#xFFFFFFF;"],
    ["an unquoted attribute", "<a x=1/>", "line 1: malformed tag <a>"],
    ["a comment never ended", "\n\n<a><!-- never", "line 3: comment never ends"],
    ["nothing", "", "no root element"],
    ["nesting too deep", "<a>" + "<b>".repeat(40), "line 1: nested deeper than 32"],
    ["too many elements", "<a>" + "<b/>".repeat(10_001) + "</a>", "more than 10000 elements"],
    ["too long", "<a>" + " ".repeat(300_000) + "</a>", "longer than 262144 bytes"],
  ])("bad XML, %s, is refused with a reason", (_, xml, reason) => {
    expect(() => parseXml(xml)).toThrow(new XmlError(reason));
  });

  test("a document that is not a resource-agent is refused", () => {
    expect(() => parseMetaData("<html/>")).toThrow("the root element is <html>, not <resource-agent>");
  });
});

describe("the output tail", () => {
  test("keeps exactly the last bytes written, across wraps and chunks of every size", () => {
    const tail = new TailBuffer(10);
    let all = "";
    for (const piece of ["abc", "defghij", "k", "lmnopqrstuvwxyz0123", "45", "6789abcdef", ""]) {
      tail.push(new TextEncoder().encode(piece));
      all += piece;
      expect(tail.text()).toBe(all.slice(-10));
      expect(tail.total).toBe(all.length);
    }
  });
});

describe("the process runner", () => {
  test("stdin: the text given is written and closed (the reader sees its end); without it, stdin is empty", async () => {
    const env = { PATH: "/usr/bin:/bin" };
    const statusOf = (code: number) => ({ status: code === 0 ? ("ok" as const) : ("failed" as const) });
    const fed = await runProcess({ argv: ["cat"], env, stdin: "a=1\nb=2\n" }, T, statusOf);
    expect(fed.result).toMatchObject({ status: "ok", exitCode: 0, output: "a=1\nb=2\n" });
    const none = await runProcess({ argv: ["cat"], env }, T, statusOf);
    expect(none.result).toMatchObject({ status: "ok", output: "" });
  });
});

describe("LSB init scripts", () => {
  let dir: string;
  let service: LsbAgent;
  beforeAll(() => {
    dir = join(tmp.dir, "lsb");
    mkdirSync(dir);
    const path = script(
      join(dir, "tandem-test"),
      `D=${dir}
case "$1" in
start) [ -f $D/broken ] && exit 1; touch $D/running; exit 0 ;;
stop) [ -f $D/running ] || exit 7; rm $D/running; exit 0 ;;
status)
  [ -f $D/running ] && exit 0
  [ -f $D/pid ] && exit 1
  [ -f $D/lock ] && exit 2
  [ -f $D/unknown ] && exit 4
  exit 3 ;;
*) exit 3 ;;
esac`,
    );
    service = new LsbAgent({ service: "tandem-test", script: path });
  });

  test("start, status, stop, and a stop of a stopped service (exit 7) is ok", async () => {
    expect(service.name).toBe("lsb:tandem-test");
    expect((await service.run("probe", T)).status).toBe("not-running");
    expect((await service.run("start", T)).status).toBe("ok");
    expect((await service.run("start", T)).status).toBe("ok");
    expect((await service.run("monitor", T)).status).toBe("ok");
    expect((await service.run("stop", T)).status).toBe("ok");
    expect((await service.run("monitor", T)).status).toBe("not-running");
    expect(await service.run("stop", T)).toMatchObject({ status: "ok", exitCode: 7, message: "it was not running" });
  });

  test("status 1 and 2 (dead with a pid or lock file) are not-running and say so; 4 is failed", async () => {
    writeFileSync(join(dir, "pid"), "");
    expect(await service.run("monitor", T)).toMatchObject({ status: "not-running", exitCode: 1, message: "dead, but its pid file exists" });
    Bun.spawnSync(["rm", join(dir, "pid")]);
    writeFileSync(join(dir, "lock"), "");
    expect(await service.run("monitor", T)).toMatchObject({ status: "not-running", exitCode: 2, message: "dead, but its lock file exists" });
    Bun.spawnSync(["rm", join(dir, "lock")]);
    writeFileSync(join(dir, "unknown"), "");
    expect(await service.run("monitor", T)).toMatchObject({ status: "failed", exitCode: 4, message: "status unknown" });
    Bun.spawnSync(["rm", join(dir, "unknown")]);
  });

  test("a start that fails is failed; no meta-data or validate-all; a missing script is not-installed", async () => {
    writeFileSync(join(dir, "broken"), "");
    expect(await service.run("start", T)).toMatchObject({ status: "failed", exitCode: 1 });
    Bun.spawnSync(["rm", join(dir, "broken")]);
    expect((await service.run("meta-data", T)).status).toBe("unimplemented");
    expect((await service.run("validate-all", T)).status).toBe("unimplemented");
    expect((await new LsbAgent({ service: "tandem-none", script: join(dir, "none") }).run("start", T)).status).toBe("not-installed");
    expect(new LsbAgent({ service: "ssh" }).script).toBe("/etc/init.d/ssh");
    expect(() => new LsbAgent({ service: "../x" })).toThrow(RangeError);
  });
});

describe("exec agents (the operator's commands)", () => {
  const exec = (monitor: string[], start = ["true"], stop = ["true"]) => new ExecAgent({ name: "mine", start, stop, monitor });

  test("monitor: 0 running, 7 not running, anything else failed; probe is the monitor", async () => {
    expect((await exec(["true"]).run("monitor", T)).status).toBe("ok");
    expect((await exec(["sh", "-c", "exit 7"]).run("probe", T)).status).toBe("not-running");
    expect(await exec(["false"]).run("monitor", T)).toMatchObject({ status: "failed", exitCode: 1, message: "monitor exited 1" });
    expect((await exec(["sh", "-c", "exit 3"]).run("monitor", T)).status).toBe("failed");
  });

  test("start and stop: 0 ok, anything else failed (7 too); a timeout kills", async () => {
    expect((await exec(["true"], ["true"]).run("start", T)).status).toBe("ok");
    expect((await exec(["true"], ["false"]).run("start", T)).status).toBe("failed");
    expect((await exec(["true"], ["true"], ["sh", "-c", "exit 7"]).run("stop", T)).status).toBe("failed");
    expect((await exec(["true"], ["sleep", "30"]).run("start", { timeoutMs: 200, killGraceMs: 200 })).status).toBe("timeout");
  });

  test("argv, not a shell: words reach the command as they are; a missing command is not-installed", async () => {
    const r = await exec(["echo", "$HOME; rm -rf /tmp/x", "*"]).run("monitor", T);
    expect(r.output).toBe("$HOME; rm -rf /tmp/x *\n");
    expect((await exec(["/nonexistent/tandem-cmd"]).run("monitor", T)).status).toBe("not-installed");
    expect((await exec(["true"]).run("meta-data", T)).status).toBe("unimplemented");
    expect(() => exec([])).toThrow(RangeError);
  });
});

/**
 * systemd is not PID 1 on this machine (nor in the appliance), so these run
 * the agent against a stand-in `systemctl` that answers as systemctl does
 * (its exit codes, its arguments), recording what it was asked.
 */
describe("systemd units (a stand-in systemctl)", () => {
  const fake = (codes: Record<string, number>) =>
    script(
      join(tmp.dir, `systemctl-${Object.values(codes).join("")}`),
      `echo "$@" >> ${join(tmp.dir, "systemctl.log")}\ncase "$1" in\n${Object.entries(codes)
        .map(([verb, code]) => `  ${verb}) exit ${code};;`)
        .join("\n")}\nesac\nexit 1\n`,
    );
  test("start, stop and is-active are systemctl's verbs; their codes map to statuses", async () => {
    const agent = new SystemdAgent({ unit: "nginx.service", systemctl: fake({ start: 0, stop: 0, "is-active": 3 }) });
    expect((await agent.run("start", { timeoutMs: 5000 })).status).toBe("ok");
    expect((await agent.run("probe", { timeoutMs: 5000 })).status).toBe("not-running");
    expect((await agent.run("stop", { timeoutMs: 5000 })).status).toBe("ok");
    expect((await agent.run("meta-data", { timeoutMs: 5000 })).status).toBe("unimplemented");
    expect(readFileSync(join(tmp.dir, "systemctl.log"), "utf8").trim().split("\n")).toEqual(["start nginx.service", "is-active --quiet nginx.service", "stop nginx.service"]);
  });
  test("no such unit: start not-installed, stop ok (it does not run), is-active 4 not-installed; other codes failed", async () => {
    const missing = new SystemdAgent({ unit: "nope.service", systemctl: fake({ start: 5, stop: 5, "is-active": 4 }) });
    expect(await missing.run("start", { timeoutMs: 5000 })).toMatchObject({ status: "not-installed", message: "the unit is not loaded (no such unit)" });
    expect(await missing.run("stop", { timeoutMs: 5000 })).toMatchObject({ status: "ok" });
    expect(await missing.run("monitor", { timeoutMs: 5000 })).toMatchObject({ status: "not-installed" });
    const broken = new SystemdAgent({ unit: "x.service", systemctl: fake({ start: 1, stop: 1, "is-active": 1 }) });
    expect(await broken.run("start", { timeoutMs: 5000 })).toMatchObject({ status: "failed", message: "start exited 1" });
    expect(await broken.run("monitor", { timeoutMs: 5000 })).toMatchObject({ status: "failed", message: "is-active exited 1" });
  });
  test("a unit name that is not one is refused", () => {
    expect(() => new SystemdAgent({ unit: "../etc/passwd" })).toThrow('bad systemd unit name "../etc/passwd"');
  });
});
