/**
 * The CLI against a running pair on loopback (alpha 127.0.0.1, bravo
 * 127.0.0.2; a group of one exec resource whose state is a file named after
 * its node's PID): `tandem status` human and --json, --api without a
 * config, the token's errors and exit codes, and `tandem events` following
 * alpha, then bravo once alpha is killed, through the takeover.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NodeProcess, freePort, freeUdpPort, tandem, tandemArgv, tempDir, waitFor, writeSecret } from "../helpers.ts";

const tmp = tempDir("cli-status");
const TOKEN = "cli-status-token-0123456789abcdef";
const CONFIG = join(tmp.dir, "tandem.toml");
const nodes: Record<string, NodeProcess> = {};
let port = 0;
let follower: ReturnType<typeof Bun.spawn> | null = null;

afterAll(() => {
  follower?.kill("SIGKILL");
  for (const n of Object.values(nodes)) n.kill();
  tmp.cleanup();
});

const statusJson = async (node: string) => {
  const r = await tandem(["status", "-c", CONFIG, "--node", node, "--json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { status: any; failovers: any[] }) : undefined;
};

const runningOn = async (node: string) => (await statusJson(node))?.status.modules.resources?.groups?.[0]?.runningOn as string[] | undefined;

beforeAll(async () => {
  port = await freePort();
  await tandem(["keygen", "-o", join(tmp.dir, "cluster.key")]);
  writeSecret(join(tmp.dir, "api.token"), TOKEN + "\n");
  const flag = join(tmp.dir, "svc.$PPID");
  writeFileSync(
    CONFIG,
    `cluster = "clitest"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "127.0.0.1"

[[nodes]]
name = "bravo"
address = "127.0.0.2"

# Timers with room for a loaded machine: a stall past deadtime costs a node its quorum.
[heartbeat]
interval = "200ms"
warntime = "600ms"
deadtime = "2s"
initdead = "4s"
port = ${await freeUdpPort()}

[[heartbeat.links]]
name = "lo"
kind = "ucast"

[api]
port = ${port}
token_file = "api.token"

[resources]
[[resources.group]]
name = "web"
members = ["svc"]
preferred = "alpha"
auto_failback = false

# The exec agent runs from the node's process: $PPID tells the nodes apart on one machine.
[[resources.resource]]
name = "svc"
agent = "exec"
params = { start = ["/bin/sh", "-c", "touch ${flag}"], stop = ["/bin/sh", "-c", "rm -f ${flag}"], monitor = ["/bin/sh", "-c", "test -f ${flag} || exit 7"] }
monitor_interval = "1s"
`,
  );
  for (const name of ["alpha", "bravo"]) nodes[name] = new NodeProcess(["-c", CONFIG, "--node", name], tmp.dir);
  for (const name of ["alpha", "bravo"]) await nodes[name]!.waitLog(`${name} to run`, (l) => l.event === "runtime.running", 20_000);
  await waitFor("web on alpha", async () => ((await runningOn("alpha"))?.join() === "alpha" && (await runningOn("bravo"))?.join() === "alpha") || undefined, 30_000, 200);
}, 60_000);

describe("tandem status", () => {
  test("human: the node, its modules, the peer and its link, quorum, the group and its resource", async () => {
    const r = await tandem(["status", "-c", CONFIG, "--node", "alpha"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^node alpha of cluster clitest: running, tandem \S+, config [0-9a-f]{12}$/);
    expect(lines[1]).toStartWith("modules: ");
    expect(lines[1]).toContain("heartbeat");
    expect(lines[1]).toContain("resources");
    expect(lines[1]).toEndWith(" running");
    expect(r.stdout).toContain("heartbeat: quorate\n");
    expect(r.stdout).toMatch(/^ {2}bravo {8}up; lo up \(rtt [\d.]+ ms, loss [\d.]+%\)$/m);
    expect(r.stdout).toContain("node alpha: DC ");
    expect(r.stdout).toMatch(/^ {2}web {10}on alpha$/m);
    expect(r.stdout).toMatch(/^ {4}svc +exec +started on alpha$/m);
    expect(r.stdout).not.toContain("last takeover");
  });

  test("--json: the node's status and its (empty) flight record", async () => {
    const s = (await statusJson("bravo"))!;
    expect(s.status).toMatchObject({ node: "bravo", cluster: "clitest", phase: "running" });
    expect(s.status.modules.heartbeat.peers.alpha.status).toBe("up");
    expect(s.failovers).toEqual([]);
  });

  test("--api without a config: reads with no token; changes need $TANDEM_TOKEN, and a wrong one says what to do (exit 1)", async () => {
    const api = `http://127.0.0.1:${port}`;
    const read = await tandem(["status", "--api", api]);
    expect(read.code).toBe(0);
    expect(read.stdout).toStartWith("node alpha of cluster clitest");
    const none = await tandem(["clear", "web", "--api", api]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("a valid bearer token is required");
    expect(none.stderr).toContain("$TANDEM_TOKEN with --api");
    const wrong = await tandem(["clear", "web", "--api", api], { env: { TANDEM_TOKEN: "not-the-token-0123456789" } });
    expect(wrong.code).toBe(1);
    const right = await tandem(["clear", "web", "--api", api], { env: { TANDEM_TOKEN: TOKEN } });
    expect([right.code, right.stderr]).toEqual([0, ""]);
    expect(right.stdout.trim()).toBe("web's move is cleared");
    expect((await tandem(["status", "--api", api, "--node", "alpha"])).code).toBe(2);
  });

  test("exit codes: a name the node does not know is 2, no node answering is 1 and says what to check", async () => {
    const unknown = await tandem(["standby", "nosuch", "-c", CONFIG, "--node", "alpha"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("nosuch");
    const away = await tandem(["status", "--api", "http://127.0.0.1:9"]);
    expect(away.code).toBe(1);
    expect(away.stderr).toContain("no node answered (http://127.0.0.1:9");
    expect(away.stderr).toContain("is `tandem run` up there");
  });
});

describe("tandem events", () => {
  test("human lines: time, node, type, fields; --count ends it; bad options are usage errors", async () => {
    const r = await tandem(["events", "-c", CONFIG, "--node", "bravo", "--since", "0", "--count", "2", "--module", "heartbeat"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBe(2);
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} bravo heartbeat\.\S+( \S+=\S+)*/);
    for (const bad of [["--count", "0"], ["--since", "x"], ["--module", "Heart Beat"]]) {
      const b = await tandem(["events", "-c", CONFIG, ...bad]);
      expect([bad, b.code]).toEqual([bad, 2]);
      expect(b.stderr).toContain("See 'tandem events --help'");
    }
  });

  test("follows alpha, and when alpha is killed, bravo: the takeover as it happened; then status shows it from the flight recorder", async () => {
    follower = Bun.spawn([...tandemArgv(), "events", "-c", CONFIG, "--json", "--since", "0", "--module", "heartbeat", "--module", "resources"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    let out = "";
    let err = "";
    void (async () => {
      for await (const c of follower!.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
    })();
    void (async () => {
      for await (const c of follower!.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
    })();
    const events = () =>
      out
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { node: string; type: string; at: number; data: Record<string, unknown> });
    await waitFor("alpha's history on the stream", () => (events().some((e) => e.node === "alpha" && e.type === "heartbeat.started") ? true : undefined), 10_000);
    nodes.alpha!.kill("SIGKILL");
    const started = (e: { node: string; type: string; data: Record<string, unknown> }) => e.node === "bravo" && e.type === "resources.action" && e.data.resource === "svc" && e.data.action === "start" && e.data.status === "ok";
    await waitFor("bravo starting svc on the stream", () => (events().some(started) ? true : undefined), 20_000, 100).catch((e) => {
      throw new Error(`${(e as Error).message}; stderr: ${err}; stdout: ${out.slice(-3000)}`);
    });
    follower.kill("SIGKILL");
    expect(err).toContain(`tandem events: lost http://127.0.0.1:${port} (the stream ended); trying the next node`);
    const all = events();
    for (const e of all) expect(["heartbeat", "resources"]).toContain(e.type.split(".")[0]!);
    const firstBravo = all.findIndex((e) => e.node === "bravo");
    // Alpha's events, then bravo's from alpha's last one on: the peer lost, then the start.
    expect(all.slice(0, firstBravo).every((e) => e.node === "alpha")).toBe(true);
    expect(all.slice(firstBravo).every((e) => e.node === "bravo" && e.at > all[firstBravo - 1]!.at)).toBe(true);
    const dead = all.findIndex((e) => e.node === "bravo" && e.type === "heartbeat.peer" && e.data.peer === "alpha" && e.data.status === "down");
    expect(dead).toBeGreaterThan(firstBravo - 1);
    expect(all.findIndex(started)).toBeGreaterThan(dead);

    const s = await waitFor("the takeover in bravo's flight recorder, settled", async () => ((await statusJson("bravo"))?.failovers[0]?.ended ? statusJson("bravo") : undefined), 20_000, 500);
    const f = s!.failovers[0];
    expect(f.node).toBe("bravo");
    const kinds = (f.steps as Array<{ kind: string }>).map((x) => x.kind);
    expect(kinds).toContain("peer-dead");
    expect(kinds.indexOf("resource-start")).toBeGreaterThan(kinds.indexOf("peer-dead"));
    const human = await tandem(["status", "-c", CONFIG, "--node", "bravo"]);
    expect(human.stdout).toMatch(/^ {2}alpha {8}down, silent \d+ ms; lo down$/m);
    expect(human.stdout).toMatch(/^last takeover: by bravo at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, \d+ ms from the first step to the last \(alpha is dead: silent past deadtime\); /m);
    expect(human.stdout).toMatch(/^ {2}web {10}on bravo$/m);
  }, 60_000);
});
