/**
 * Fence devices against real processes: the operator's commands (exit codes,
 * timeouts that kill the process group, floods of output), a fake agent of
 * the fence-agents convention that records its stdin, Debian's fence_dummy
 * (as root, installing fence-agents when it is missing), the config checks,
 * fenceNode's order and fallback, and, as root, a `lab` device powering off a
 * node of a real `tandem lab`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OUTPUT_TAIL_BYTES } from "../../../core/os/process.ts";
import { createFenceDevice, DEFAULT_FENCE_TIMEOUT, type FenceDeviceDef } from "../../../modules/resources/fencing/config.ts";
import { fenceNode, type FenceDevice } from "../../../modules/resources/fencing/device.ts";
import { FENCE_AGENT_DIR } from "../../../modules/resources/fencing/kinds.ts";
import { haveDebianPackage, liveInGroup, tandem, tandemArgv, tempDir, writeSecret } from "../../helpers.ts";
import { freeSubnets } from "../../lab/net.ts";

const ROOT = process.getuid?.() === 0;
const FENCE_DUMMY = join(FENCE_AGENT_DIR, "fence_dummy");
const HAVE_FENCE_DUMMY = haveDebianPackage("fence-agents", FENCE_DUMMY, "fence_dummy tests");

const T = { timeoutMs: 20_000 };
const tmp = tempDir("fencing");
afterAll(() => tmp.cleanup());

/** A script in the temp dir, mode 0700. */
function script(name: string, body: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o700);
  return path;
}

const read = (name: string) => readFileSync(join(tmp.dir, name), "utf8");

/** An exec device whose command records its arguments and fence environment in `record`, then exits `code`. */
function recorder(name: string, code: number, extra: Partial<FenceDeviceDef> = {}): FenceDevice {
  const command = script(`${name}.sh`, `printf '%s\\n' "$@" "node=$TANDEM_FENCE_NODE" "action=$TANDEM_FENCE_ACTION" > ${tmp.dir}/${name}.record\nexit ${code}`);
  return createFenceDevice({ name, agent: "exec", params: { command: [command, "--hard"] }, ...extra }, { self: "alpha" });
}

describe("exec devices", () => {
  test("exit 0 is fenced: the node is the last argument, TANDEM_FENCE_NODE and TANDEM_FENCE_ACTION are set", async () => {
    const r = await recorder("ok", 0).fence("bravo", T);
    expect(r).toMatchObject({ node: "bravo", device: "ok", status: "fenced", exitCode: 0, message: "" });
    expect(read("ok.record")).toBe("--hard\nbravo\nnode=bravo\naction=off\n");
  });

  test("host_map gives the last argument (the node stays in TANDEM_FENCE_NODE); action reboot", async () => {
    const r = await recorder("mapped", 0, { host_map: { bravo: "rack2-slot7" }, action: "reboot" }).fence("bravo", T);
    expect(r.status).toBe("fenced");
    expect(read("mapped.record")).toBe("--hard\nrack2-slot7\nnode=bravo\naction=reboot\n");
  });

  test("any other exit is failed, with the code and the output", async () => {
    const command = script("no.sh", "echo 'the PDU said no' >&2; exit 3");
    const r = await createFenceDevice({ name: "no", agent: "exec", params: { command: [command] } }).fence("bravo", T);
    expect(r).toMatchObject({ status: "failed", exitCode: 3, output: "the PDU said no\n", message: "off exited 3" });
  });

  test("a timeout kills the whole process group, forks included, and answers timeout", async () => {
    const command = script("hang.sh", `sleep 300 & echo $$ > ${tmp.dir}/hang.pid; wait`);
    const device = createFenceDevice({ name: "hang", agent: "exec", params: { command: [command] }, timeout: "300ms" });
    expect(device.timeoutMs).toBe(300);
    const r = await device.fence("bravo", { timeoutMs: device.timeoutMs });
    expect(r.status).toBe("timeout");
    expect(r.exitCode).toBeNull();
    expect(r.message).toContain("no answer within 300 ms");
    expect(r.durationMs).toBeLessThan(5000);
    expect(liveInGroup(Number(read("hang.pid")))).toEqual([]);
  });

  test("megabytes of output: the result keeps the last 4 KiB", async () => {
    const command = script("loud.sh", "head -c 5000000 /dev/zero | tr '\\0' x; echo; echo 'powered off'");
    const r = await createFenceDevice({ name: "loud", agent: "exec", params: { command: [command] } }).fence("bravo", T);
    expect(r.status).toBe("fenced");
    expect(r.output.length).toBe(OUTPUT_TAIL_BYTES);
    expect(r.output.endsWith("x\npowered off\n")).toBe(true);
  });

  test("a command that cannot be run is error; a cancel kills it and answers cancelled", async () => {
    const missing = await createFenceDevice({ name: "gone", agent: "exec", params: { command: [join(tmp.dir, "nothing-here")] } }).fence("bravo", T);
    expect(missing.status).toBe("error");
    expect(missing.message).toContain("cannot run");
    const command = script("slow.sh", `echo $$ > ${tmp.dir}/slow.pid; sleep 300`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await createFenceDevice({ name: "slow", agent: "exec", params: { command: [command] } }).fence("bravo", { timeoutMs: 60_000, signal: ac.signal });
    expect(r.status).toBe("cancelled");
    expect(liveInGroup(Number(read("slow.pid")))).toEqual([]);
  });
});

describe("fence-agents agents (a fake one that records its stdin)", () => {
  /** Exits 0 for off, reboot and monitor; 1 when the plug is "stuck"; 2 for any other action. */
  const agent = script(
    "fence_fake",
    `cat > ${tmp.dir}/fake.stdin
action=$(sed -n 's/^action=//p' ${tmp.dir}/fake.stdin)
plug=$(sed -n 's/^plug=//p' ${tmp.dir}/fake.stdin)
[ "$plug" = stuck ] && { echo "Failed: $plug did not power off" >&2; exit 1; }
case "$action" in off|reboot|monitor) echo "Success: $action"; exit 0;; esac
exit 2`,
  );
  const fake = (extra: Partial<FenceDeviceDef> = {}, params: FenceDeviceDef["params"] = {}) =>
    createFenceDevice({ name: "bmc", agent: "fence_fake", params: { path: agent, ipaddr: "198.18.0.9", login: "admin", passwd: "s3cret", ...params }, ...extra }, { self: "alpha" });

  test("off: action, plug and nodename first, then every param in order; true is 1, false is left out; path is not sent", async () => {
    const r = await fake({}, { ipport: 623, lanplus: true, inet6_only: false }).fence("bravo", T);
    expect(r).toMatchObject({ status: "fenced", exitCode: 0, output: "Success: off\n", device: "bmc" });
    expect(read("fake.stdin")).toBe("action=off\nplug=bravo\nnodename=bravo\nipaddr=198.18.0.9\nlogin=admin\npasswd=s3cret\nipport=623\nlanplus=1\n");
  });

  test("host_map gives the plug; action reboot", async () => {
    const r = await fake({ host_map: { bravo: "vm-bravo-7" }, action: "reboot" }).fence("bravo", T);
    expect(r.status).toBe("fenced");
    expect(read("fake.stdin")).toBe("action=reboot\nplug=vm-bravo-7\nnodename=bravo\nipaddr=198.18.0.9\nlogin=admin\npasswd=s3cret\n");
  });

  test("the agent's failure is failed, with its exit code and what it said", async () => {
    const r = await fake({ host_map: { bravo: "stuck" } }).fence("bravo", T);
    expect(r).toMatchObject({ status: "failed", exitCode: 1, output: "Failed: stuck did not power off\n", message: "off exited 1" });
  });

  test("check() runs monitor: the action and the params, no plug", async () => {
    const device = fake();
    const r = await device.check!(T);
    expect(r).toMatchObject({ device: "bmc", status: "ok", exitCode: 0 });
    expect(read("fake.stdin")).toBe("action=monitor\nipaddr=198.18.0.9\nlogin=admin\npasswd=s3cret\n");
  });

  test("password_file: its text (without the line end) is the agent's password, read afresh at each fence and check", async () => {
    const file = join(tmp.dir, "bmc.password");
    writeSecret(file, "from a file\n");
    const device = createFenceDevice({ name: "bmc", agent: "fence_fake", params: { path: agent, login: "admin" }, password_file: file }, { self: "alpha" });
    expect((await device.fence("bravo", T)).status).toBe("fenced");
    expect(read("fake.stdin")).toBe("action=off\nplug=bravo\nnodename=bravo\nlogin=admin\npassword=from a file\n");
    writeSecret(file, "rotated");
    expect((await device.check!(T)).status).toBe("ok");
    expect(read("fake.stdin")).toBe("action=monitor\nlogin=admin\npassword=rotated\n");
  });

  test("a password_file readable by others (or a link, or missing) is an error, and the agent is not run", async () => {
    const file = join(tmp.dir, "loose.password");
    writeFileSync(file, "secret\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    writeFileSync(join(tmp.dir, "fake.stdin"), "untouched");
    const device = createFenceDevice({ name: "bmc", agent: "fence_fake", params: { path: agent }, password_file: file }, { self: "alpha" });
    const r = await device.fence("bravo", T);
    expect(r).toMatchObject({ status: "error", exitCode: null });
    expect(r.message).toContain(`${file} is readable by others; expected mode 0600; found mode 0644`);
    expect((await device.check!(T)).status).toBe("error");
    expect(read("fake.stdin")).toBe("untouched");
  });

  test("an agent that is not installed is error, and says where it was looked for", async () => {
    const r = await createFenceDevice({ name: "none", agent: "fence_nowhere", params: { path: join(tmp.dir, "fence_nowhere") } }).fence("bravo", T);
    expect(r.status).toBe("error");
    expect(r.message).toContain(join(tmp.dir, "fence_nowhere"));
  });
});

describe.skipIf(!HAVE_FENCE_DUMMY)("fence_dummy (Debian's fence-agents)", () => {
  const statusFile = join(tmp.dir, "dummy.status");
  const dummy = (extra: Partial<FenceDeviceDef> = {}, params: FenceDeviceDef["params"] = {}) =>
    createFenceDevice({ name: "dummy", agent: "fence_dummy", params: { status_file: statusFile, ...params }, ...extra });

  test("off: the status file goes from on to off", async () => {
    writeFileSync(statusFile, "on");
    const r = await dummy().fence("bravo", T);
    expect(r.status, r.output).toBe("fenced");
    expect(r.output).toContain("Success: Powered OFF");
    expect(readFileSync(statusFile, "utf8")).toBe("off");
  });

  test("reboot: off then on again", async () => {
    writeFileSync(statusFile, "on");
    const r = await dummy({ action: "reboot" }).fence("bravo", T);
    expect(r.status, r.output).toBe("fenced");
    expect(r.output).toContain("Success: Rebooted");
    expect(readFileSync(statusFile, "utf8")).toBe("on");
  });

  test("a device that never powers off (type=fail) is failed once its power_timeout is over", async () => {
    const r = await dummy({}, { type: "fail", power_timeout: 1 }).fence("bravo", T);
    expect(r).toMatchObject({ status: "failed", exitCode: 1 });
    expect(r.output).toContain("Timed out waiting to power OFF");
  });

  test("check(): monitor answers ok", async () => {
    expect((await dummy().check!(T)).status).toBe("ok");
  });
});

describe("device definitions", () => {
  const exec: FenceDeviceDef = { name: "pdu", agent: "exec", params: { command: ["/bin/true"] } };
  const refused: [string, unknown, string][] = [
    ["not a table", "pdu", "a fence device must be a table"],
    ["a bad name", { ...exec, name: "PDU 1" }, "name must match"],
    ["an unknown key, with a guess", { ...exec, timout: "5s" }, 'unknown key "timout" (did you mean "timeout"?)'],
    ["an unknown agent", { ...exec, agent: "stonith" }, 'unknown agent "stonith"'],
    ["exec without command", { name: "pdu", agent: "exec" }, "params.command must be the command as an array of words"],
    ["exec with a command string", { ...exec, params: { command: "/bin/true" } }, "params.command must be"],
    ["exec with another param", { ...exec, params: { command: ["/bin/true"], ipaddr: "x" } }, "params.ipaddr: exec devices take only params.command"],
    ["lab without lab", { name: "lab", agent: "lab" }, "params.lab must be the lab's name"],
    ["lab with a bad lab name", { name: "lab", agent: "lab", params: { lab: "Big_Lab" } }, "params.lab: lab name"],
    ["lab with reboot", { name: "lab", agent: "lab", params: { lab: "demo" }, action: "reboot" }, 'it has no action "reboot"'],
    ["a fence agent with an array", { name: "bmc", agent: "fence_ipmilan", params: { ipaddr: ["a", "b"] } }, "one value per argument"],
    ["a fence agent given plug", { name: "bmc", agent: "fence_ipmilan", params: { plug: "3" } }, "params.plug is written by Tandem: map a node to its port with host_map"],
    ["a fence agent given action", { name: "bmc", agent: "fence_ipmilan", params: { action: "reboot" } }, "set the device's action"],
    ["a value on two lines", { name: "bmc", agent: "fence_ipmilan", params: { passwd: "a\naction=on" } }, "must fit on one line"],
    ["an argument name with a space", { name: "bmc", agent: "fence_ipmilan", params: { "a b": "1" } }, "params.a b: an agent's argument name"],
    ["a relative path", { name: "bmc", agent: "fence_ipmilan", params: { path: "fence_ipmilan" } }, "params.path must be the agent's absolute path"],
    ["a param of another type", { ...exec, params: { command: ["/bin/true"], when: { at: 1 } } }, "params.when must be a string, a number, a boolean or an array of strings"],
    ["a timeout without unit", { ...exec, timeout: "60" }, "timeout must be a duration with its unit"],
    ["a zero timeout", { ...exec, timeout: "0s" }, "timeout must be more than 0 and at most 30m"],
    ["a timeout too long", { ...exec, timeout: "2h" }, "at most 30m"],
    ["an unknown action", { ...exec, action: "cycle" }, 'action must be "off" or "reboot"'],
    ["nodes that are not names", { ...exec, nodes: ["bravo", 7] }, "nodes: 7 is not a node name"],
    ["host_map for a node it does not fence", { ...exec, nodes: ["bravo"], host_map: { charlie: "3" } }, "host_map.charlie: charlie is not one of the device's nodes"],
    ["host_map to an empty port", { ...exec, host_map: { bravo: "" } }, "host_map.bravo must be a port name"],
    ["host_map to a port that would be an option", { ...exec, host_map: { bravo: "--help" } }, "host_map.bravo must not begin with '-'"],
    ["a relative password_file", { name: "bmc", agent: "fence_ipmilan", password_file: "bmc.password" }, "password_file must be an absolute path"],
    ["a password_file for an exec device", { ...exec, password_file: "/etc/tandem/pdu.password" }, "password_file is for fence-agents devices (fence_*)"],
    ["a password twice", { name: "bmc", agent: "fence_ipmilan", params: { passwd: "x" }, password_file: "/etc/tandem/bmc.password" }, "params.passwd and password_file both give the password"],
  ];
  for (const [what, def, message] of refused) {
    test(`refused: ${what}`, () => {
      expect(() => createFenceDevice(def)).toThrow(RangeError);
      expect(() => createFenceDevice(def)).toThrow(message);
    });
  }

  test("defaults: action off, the default timeout; kind is the agent", () => {
    const device = createFenceDevice(exec);
    expect(device).toMatchObject({ name: "pdu", kind: "exec", action: "off", timeoutMs: 60_000 });
    expect(DEFAULT_FENCE_TIMEOUT).toBe("60s");
    expect(createFenceDevice({ name: "bmc", agent: "fence_ipmilan", timeout: "90s" })).toMatchObject({ kind: "fence_ipmilan", timeoutMs: 90_000 });
    expect(device.check).toBeUndefined();
  });

  test("which nodes: all but this one when nodes is missing; else only those listed, never this one", () => {
    const all = createFenceDevice(exec, { self: "alpha" });
    expect(["alpha", "bravo", "charlie"].map((n) => all.canFence(n))).toEqual([false, true, true]);
    const some = createFenceDevice({ ...exec, nodes: ["alpha", "bravo"] }, { self: "alpha" });
    expect(["alpha", "bravo", "charlie"].map((n) => some.canFence(n))).toEqual([false, true, false]);
    expect(all.canFence("bravo\naction=on")).toBe(false);
  });

  test("a node it cannot fence is an error, and nothing runs", async () => {
    const r = await recorder("self", 0).fence("alpha", T);
    expect(r).toMatchObject({ status: "error", message: 'self cannot fence "alpha"' });
    expect(existsSync(join(tmp.dir, "self.record"))).toBe(false);
  });
});

describe("fenceNode", () => {
  const ran = (name: string) => existsSync(join(tmp.dir, `${name}.record`));

  test("devices are tried in order, skipping those that cannot fence the node; the first success ends it", async () => {
    const devices = [recorder("other", 0, { nodes: ["charlie"] }), recorder("first", 1), recorder("second", 0), recorder("third", 0)];
    const r = await fenceNode(devices, "bravo");
    expect(r).toMatchObject({ node: "bravo", device: "second", status: "fenced", exitCode: 0 });
    expect(r.message).toBe("first: failed (off exited 1); second: fenced");
    expect([ran("other"), ran("first"), ran("second"), ran("third")]).toEqual([false, true, true, false]);
  });

  test("when every device fails: the last failure, with every attempt's message", async () => {
    const r = await fenceNode([recorder("f1", 1), recorder("f2", 4)], "bravo");
    expect(r).toMatchObject({ device: "f2", status: "failed", exitCode: 4, message: "f1: failed (off exited 1); f2: failed (off exited 4)" });
  });

  test("no device for the node (or the node is this one): error, and nothing runs", async () => {
    const r = await fenceNode([recorder("mine", 0)], "alpha");
    expect(r).toMatchObject({ node: "alpha", device: "", status: "error", message: "no fence device can fence alpha" });
    expect(ran("mine")).toBe(false);
  });

  test("each attempt is bounded by its device's timeout; then the next device is tried", async () => {
    const hang = createFenceDevice({ name: "hang2", agent: "exec", params: { command: ["sh", "-c", "sleep 300"] }, timeout: "200ms" });
    const started = performance.now();
    const r = await fenceNode([hang, recorder("after", 0)], "bravo");
    expect(r).toMatchObject({ device: "after", status: "fenced" });
    expect(r.message).toMatch(/^hang2: timeout \(no answer within 200 ms: .*\); after: fenced$/);
    expect(r.durationMs).toBeGreaterThanOrEqual(200);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test("a cancel stops at once: cancelled, and no further device is tried", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const r = await fenceNode([createFenceDevice({ name: "wait", agent: "exec", params: { command: ["sh", "-c", "sleep 300"] } }), recorder("never", 0)], "bravo", { signal: ac.signal });
    expect(r).toMatchObject({ device: "wait", status: "cancelled" });
    expect(ran("never")).toBe(false);
  });

  test("a device (of another implementation) that throws is an error attempt, and the next is tried", async () => {
    const thrower: FenceDevice = {
      name: "broken",
      kind: "test",
      action: "off",
      timeoutMs: 1000,
      canFence: () => true,
      fence: () => {
        throw new Error("boom");
      },
    };
    const r = await fenceNode([thrower, recorder("backup", 0)], "bravo");
    expect(r).toMatchObject({ device: "backup", status: "fenced", message: "broken: error (the device threw: boom); backup: fenced" });
  });
});

/**
 * A lab of two members; the lab device fences bravo and `tandem lab status`
 * shows it powered off. Root only; the lab is taken down in afterAll.
 */
describe.skipIf(!ROOT)("lab devices (root: a real tandem lab)", () => {
  const LAB = `fe${process.pid % 100000}`;
  const STEP_MS = 60_000;
  let up = false;

  beforeAll(async () => {
    const [net] = freeSubnets(1, 44) as [string];
    expect((await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")])).code).toBe(0);
    const config = join(tmp.dir, "lab.toml");
    const node = (name: string, host: number) => `[[nodes]]\nname = "${name}"\naddress = "${net}${host}"\nroles = ["member"]\n`;
    writeFileSync(config, `cluster = "fencing"\nkey_file = "cluster.key"\n\n${node("alpha", 11)}\n${node("bravo", 12)}\n[api]\nport = 9480\n`);
    const r = await tandem(["lab", "up", "-c", config, "--name", LAB], { timeoutMs: STEP_MS });
    expect(r.code, r.stderr).toBe(0);
    up = true;
  }, STEP_MS);

  afterAll(async () => {
    if (up) await tandem(["lab", "down", "--name", LAB], { timeoutMs: STEP_MS });
  }, STEP_MS);

  test("fenceNode with a lab device powers the node off: status shows it, its process is gone", async () => {
    const device = createFenceDevice({ name: "lab", agent: "lab", params: { lab: LAB }, timeout: "30s" }, { self: "alpha", program: tandemArgv() });
    expect(device.canFence("alpha")).toBe(false);
    const r = await fenceNode([device], "bravo");
    expect(r.status, `${r.message}\n${r.output}`).toBe("fenced");
    const s = await tandem(["lab", "status", "--name", LAB, "--json"]);
    expect(s.code, s.stderr).toBe(0);
    const hosts = (JSON.parse(s.stdout) as { labs: { hosts: { name: string; faults: string[]; process: { state: string } | null }[] }[] }).labs[0]!.hosts;
    const bravo = hosts.find((h) => h.name === "bravo")!;
    expect(bravo.faults).toEqual(["power"]);
    expect(bravo.process?.state).toBe("stopped");
    expect(hosts.find((h) => h.name === "alpha")!).toMatchObject({ faults: [], process: { state: "running" } });
  }, STEP_MS);
});
