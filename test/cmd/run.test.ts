import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { STATE_RETRY_MS } from "../../core/state.ts";
import { NodeProcess, freePort, tandem, tempDir, waitFor, writeSecret } from "../helpers.ts";

const tmp = tempDir("run");
const nodes: NodeProcess[] = [];
afterAll(() => {
  for (const n of nodes) n.kill();
  tmp.cleanup();
});

const TOKEN = "s3cret-token-0123456789abcdef";

async function cluster(port: number, extra = ""): Promise<string> {
  const dir = tmp.dir;
  await tandem(["keygen", "-o", join(dir, "cluster.key"), "--force"]);
  writeSecret(join(dir, "api.token"), TOKEN + "\n");
  const file = join(dir, "tandem.toml");
  writeFileSync(
    file,
    `cluster = "runtest"
key_file = "cluster.key"

[[nodes]]
name = "solo"
address = "127.0.0.1"

[api]
port = ${port}
token_file = "api.token"

[runtime]
stop_timeout = "3s"
${extra}`,
  );
  return file;
}

async function start(file: string, args: string[] = []): Promise<NodeProcess> {
  const n = new NodeProcess(["-c", file, "--node", "solo", ...args], tmp.dir);
  nodes.push(n);
  await n.waitLog("the node to run", (l) => l.event === "runtime.running");
  return n;
}

const auth = { authorization: `Bearer ${TOKEN}` };

describe("tandem run serves the API", () => {
  let base = "";
  let node: NodeProcess;
  let file = "";

  test("starts and answers /healthz and /v1/status", async () => {
    const port = await freePort();
    file = await cluster(port);
    node = await start(file);
    base = `http://127.0.0.1:${port}`;
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    const s = (await (await fetch(`${base}/v1/status`)).json()) as Record<string, any>;
    expect(s.node).toBe("solo");
    expect(s.cluster).toBe("runtest");
    expect(s.phase).toBe("running");
    expect(s.config.hash).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
    expect(s.modules.api.state).toBe("running");
    expect(s.modules.api.url).toBe(`${base}/`);
  });

  test("the node runs with mimalloc's purge of freed pages off (the same process, exec'd once), unless the operator set it", async () => {
    const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    expect(environ(node.proc.pid)).toContain("MIMALLOC_PURGE_DELAY=-1");
    const own = new NodeProcess(["-c", file, "--node", "solo", "--api", `127.0.0.1:${await freePort()}`], tmp.dir, { MIMALLOC_PURGE_DELAY: "50" });
    nodes.push(own);
    await own.waitLog("the node to run", (l) => l.event === "runtime.running");
    expect(environ(own.proc.pid)).toContain("MIMALLOC_PURGE_DELAY=50");
    own.kill();
  });

  test("/metrics is Prometheus text with the runtime's metrics", async () => {
    const r = await fetch(`${base}/metrics`);
    expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await r.text();
    expect(text).toContain('tandem_module_up{module="api"} 1');
    expect(text).toMatch(/^tandem_build_info\{version="[^"]+"\} 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-0-9.e+NaInf]+)$/);
  });

  test("/v1/openapi.json describes every route, and every described route answers", async () => {
    const doc = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, { security?: unknown }>> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/healthz", "/v1/status", "/v1/events", "/metrics", "/v1/reload", "/v1/openapi.json", "/"]));
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (path === "/v1/events") continue;
        const r = await fetch(`${base}${path}`, { method: method.toUpperCase(), headers: ops[method]!.security ? auth : {} });
        expect([r.status, path]).not.toEqual([404, path]);
        expect(r.status, `${method} ${path}`).toBeLessThan(300);
      }
    }
  });

  test("errors are application/problem+json: 404, 405, 401", async () => {
    const nf = await fetch(`${base}/v1/nope`);
    expect(nf.status).toBe(404);
    expect(nf.headers.get("content-type")).toBe("application/problem+json");
    expect(((await nf.json()) as { status: number }).status).toBe(404);
    const na = await fetch(`${base}/v1/status`, { method: "DELETE" });
    expect(na.status).toBe(405);
    expect(na.headers.get("allow")).toBe("GET");
    const noAuth = await fetch(`${base}/v1/reload`, { method: "POST" });
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get("content-type")).toBe("application/problem+json");
    const wrong = await fetch(`${base}/v1/reload`, { method: "POST", headers: { authorization: "Bearer not-the-token-at-all-xx" } });
    expect(wrong.status).toBe(401);
  });

  test("/v1/events streams state changes as server-sent events", async () => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/v1/events`, { signal: ctl.signal });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    const reload = await fetch(`${base}/v1/reload`, { method: "POST", headers: auth });
    expect(reload.status).toBe(200);
    expect(((await reload.json()) as { result: string }).result).toBe("unchanged");
    await waitFor("the reload event on the stream", async () => {
      const { value } = await reader.read();
      text += dec.decode(value);
      return text.includes('"type":"config.reload"') ? true : undefined;
    });
    const data = text.split("\n").find((l) => l.startsWith("data: ") && l.includes("config.reload"))!;
    const event = JSON.parse(data.slice(6)) as { type: string; node: string; data: { result: string } };
    expect(event).toMatchObject({ type: "config.reload", node: "solo", data: { result: "unchanged" } });
    ctl.abort();
  });

  test("an SSE client resumes with Last-Event-ID", async () => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/v1/events`, { signal: ctl.signal, headers: { "last-event-id": "1" } });
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    let text = new TextDecoder().decode(value);
    while (!text.includes("runtime.running")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('"id":2');
    expect(text).not.toContain('"id":1,');
    ctl.abort();
  });

  test("SIGHUP with a changed config applies it: the API moves to the new port", async () => {
    const port2 = await freePort();
    writeFileSync(file, readFileSync(file, "utf8").replace(/port = \d+/, `port = ${port2}`));
    node.proc.kill("SIGHUP");
    const moved = await waitFor("the API on the new port", async () => ((await fetch(`http://127.0.0.1:${port2}/healthz`)).ok ? true : undefined));
    expect(moved).toBe(true);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    base = `http://127.0.0.1:${port2}`;
    const s = (await (await fetch(`${base}/v1/status`)).json()) as Record<string, any>;
    expect(s.config.hash).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
    expect(node.lines().filter((l) => l.event === "runtime.module" && l.module === "api" && l.reloaded === true).length).toBe(1);
  });

  test("SIGHUP with a bad config is refused with the reason, and the running config is kept", async () => {
    const before = (await (await fetch(`${base}/v1/status`)).json()) as Record<string, any>;
    const good = readFileSync(file, "utf8");
    writeFileSync(file, good.replace('stop_timeout = "3s"', 'stop_timeout = "soon"'));
    node.proc.kill("SIGHUP");
    const refused = await node.waitLog("the refusal", (l) => l.msg === "config reload refused; keeping the running config");
    expect(String(refused.problem)).toContain('runtime.stop_timeout: invalid value; expected a duration: 150ms, 2s, 1m; at most 596h; found "soon"');
    const after = (await (await fetch(`${base}/v1/status`)).json()) as Record<string, any>;
    expect(after.config.hash).toBe(before.config.hash);
    expect(after.modules.api.state).toBe("running");
    const api = await fetch(`${base}/v1/reload`, { method: "POST", headers: auth });
    expect(api.status).toBe(422);
    expect(((await api.json()) as { problems: string[] }).problems.join()).toContain("runtime.stop_timeout");
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('tandem_config_reloads_total{result="rejected"} 2');
    writeFileSync(file, good);
  });

  test("SIGTERM stops the modules in reverse order and exits 0 within the bound", async () => {
    const t0 = Date.now();
    node.proc.kill("SIGTERM");
    expect(await node.exited()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    const events = node.lines().map((l) => l.event).filter(Boolean);
    expect(events.slice(-3)).toEqual(["runtime.stopping", "runtime.module", "runtime.stopped"]);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});

describe("tandem run refuses what it cannot run", () => {
  test("a bad config exits 2 before starting anything", async () => {
    const file = await cluster(await freePort(), "\n[bogus]\n");
    const n = new NodeProcess(["-c", file, "--node", "solo"], tmp.dir);
    nodes.push(n);
    expect(await n.exited()).toBe(2);
    expect(n.log).toContain('bogus: unknown key "bogus"');
  });

  test("a port already in use fails the start: exit 1 with the reason", async () => {
    const port = await freePort();
    const blocker = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response("x") });
    try {
      const n = new NodeProcess(["-c", await cluster(port), "--node", "solo"], tmp.dir);
      nodes.push(n);
      expect(await n.exited()).toBe(1);
      const failed = n.lines().find((l) => l.event === "runtime.module" && l.state === "failed");
      expect(String(failed?.error)).toMatch(/in use|EADDRINUSE/i);
    } finally {
      blocker.stop(true);
    }
  });

  test("--api overrides the configured address; without a token file, mutations are forbidden", async () => {
    const file = await cluster(await freePort());
    writeFileSync(file, readFileSync(file, "utf8").replace('token_file = "api.token"\n', ""));
    const port = await freePort();
    const n = await start(file, ["--api", `127.0.0.1:${port}`]);
    const r = await fetch(`http://127.0.0.1:${port}/v1/reload`, { method: "POST", headers: auth });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { detail: string }).detail).toContain("token_file");
    n.proc.kill("SIGINT");
    expect(await n.exited()).toBe(0);
    const bad = await tandem(["run", "-c", file, "--api", "nowhere"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--api expects HOST:PORT");
  });
});

describe("tandem run keeps state where told", () => {
  const MARKER = join(tmp.dir, "marker.on");
  const RESOURCES = `
[resources]

[[resources.group]]
name = "g"
members = ["marker"]

[[resources.resource]]
name = "marker"
agent = "exec"
params = { start = ["touch", "${MARKER}"], stop = ["rm", "-f", "${MARKER}"], monitor = ["sh", "-c", "test -e ${MARKER} || exit 7"] }
`;

  /** A solo node's config with [resources] and state_dir; its API's base URL. */
  async function stateful(stateDir: string): Promise<{ file: string; base: string }> {
    const port = await freePort();
    const file = await cluster(port, RESOURCES);
    writeFileSync(file, readFileSync(file, "utf8").replace('key_file = "cluster.key"\n', `key_file = "cluster.key"\nstate_dir = "${stateDir}"\n`));
    return { file, base: `http://127.0.0.1:${port}` };
  }

  const get = async (url: string) => (await fetch(url)).json() as Promise<Record<string, any>>;
  const setStateDir = (file: string, dir: string) => writeFileSync(file, readFileSync(file, "utf8").replace(/state_dir = ".*"/, `state_dir = "${dir}"`));

  test("--state-dir (relative to the working dir) overrides state_dir: a standby is written there and survives a restart; the file's state_dir may change meanwhile", async () => {
    const { file, base } = await stateful("from-config");
    const kept = join(tmp.dir, "flag-state", "solo.state.json");
    let n = await start(file, ["--state-dir", "flag-state"]);
    expect((await get(`${base}/v1/status`)).stateFile).toBe(kept);
    expect((await fetch(`${base}/v1/resources/standby/solo`, { method: "POST", headers: auth })).status).toBe(202);
    const saved = await waitFor("the standby in the state file", () => {
      const doc = JSON.parse(readFileSync(kept, "utf8")) as { sections: { resources: { standby: string[] } } };
      return doc.sections.resources.standby.length ? doc : undefined;
    });
    expect(saved).toMatchObject({ format: 1, cluster: "runtest", node: "solo", sections: { resources: { standby: ["solo"], by: "solo" } } });
    expect(existsSync(join(tmp.dir, "from-config"))).toBe(false);

    setStateDir(file, "elsewhere");
    expect(((await (await fetch(`${base}/v1/reload`, { method: "POST", headers: auth })).json()) as { result: string }).result).toBe("accepted");
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);

    n = await start(file, ["--state-dir", "flag-state"]);
    expect((await get(`${base}/v1/resources/`)).standby).toEqual(["solo"]);
    expect(n.lines().some((l) => Number(l.level) >= 50)).toBe(false);
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);
  });

  test("tandem disable and tandem maintenance go through the API, show in tandem status, and are kept in the state file across a restart", async () => {
    const { file, base } = await stateful("kept-admin");
    const kept = join(tmp.dir, "kept-admin", "solo.state.json");
    let n = await start(file);
    const cli = (...args: string[]) => tandem([args[0]!, "-c", file, "--api", base, ...args.slice(1)], { cwd: tmp.dir });
    expect(await cli("disable", "g")).toMatchObject({ code: 0, stdout: "g is disabled\n" });
    expect(await cli("maintenance", "on", "resource", "marker")).toMatchObject({ code: 0, stdout: "maintenance of resource marker is on\n" });
    expect((await cli("disable", "nothing")).code).toBe(2);
    const post = async (path: string) => (await fetch(`${base}/v1/resources/${path}`, { method: "POST", headers: auth })).status;
    expect([await post("maintenance/sideways"), await post("maintenance/on?node=nobody"), await post("maintenance/on?node=solo&resource=g")]).toEqual([400, 404, 400]);
    const status = await cli("status");
    expect(status.stdout).toContain("g            stopped, disabled");
    expect(status.stdout).toMatch(/marker .* stopped, maintenance/);
    await waitFor("the admin state in the state file", () => {
      const doc = JSON.parse(readFileSync(kept, "utf8")) as { sections: { resources: { disabled?: string[]; maintenance?: { resources: string[] } } } };
      return doc.sections.resources.maintenance?.resources.length ? doc : undefined;
    });
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);

    n = await start(file);
    expect(await get(`${base}/v1/resources/`)).toMatchObject({ disabled: ["g"], maintenance: { cluster: false, nodes: [], resources: ["marker"] } });
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);
  });

  test("without --state-dir, a reload that changes state_dir is refused: it is read at start", async () => {
    const { file, base } = await stateful("from-config");
    const n = await start(file);
    expect((await get(`${base}/v1/status`)).stateFile).toBe(join(tmp.dir, "from-config", "solo.state.json"));
    setStateDir(file, "elsewhere");
    const r = await fetch(`${base}/v1/reload`, { method: "POST", headers: auth });
    expect(r.status).toBe(422);
    expect(((await r.json()) as { problems: string[] }).problems.join()).toContain(
      `state_dir: the state dir is read at start and cannot change on a reload (running with ${join(tmp.dir, "from-config")}, file says ${join(tmp.dir, "elsewhere")}); restart the node instead`,
    );
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);
  });

  test("a failed write shows in /v1/status, /metrics and the events until the store's retry writes the file, no admin change needed; stopped while writes fail, the node exits", async () => {
    const { file, base } = await stateful("failing-state");
    const dir = join(tmp.dir, "failing-state");
    const kept = join(dir, "solo.state.json");
    const n = await start(file);
    const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
    // The dir replaced by a file: the temporary file cannot be made, whoever the user (root too).
    const breakDir = () => {
      renameSync(dir, `${dir}.away`);
      writeFileSync(dir, "");
    };
    expect((await get(`${base}/v1/status`)).stateWriteError).toBeNull();
    expect([await metric("tandem_state_write_failures_total"), await metric("tandem_state_write_failed")]).toEqual([0, 0]);

    breakDir();
    expect((await fetch(`${base}/v1/resources/standby/solo`, { method: "POST", headers: auth })).status).toBe(202);
    const failed = await n.waitLog("the failed write", (l) => l.event === "state.write-failed");
    expect(failed).toMatchObject({ file: kept, section: "resources" });
    expect(String((await get(`${base}/v1/status`)).stateWriteError)).toContain("ENOTDIR");
    expect([await metric("tandem_state_write_failures_total"), await metric("tandem_state_write_failed")]).toEqual([1, 1]);

    // The dir back and nothing posted: the retry writes the standby within one interval.
    rmSync(dir);
    renameSync(`${dir}.away`, dir);
    const written = await n.waitLog("the retry's good write", (l) => l.event === "state.written", STATE_RETRY_MS + 5000);
    expect(written).toMatchObject({ file: kept, section: null, failed: 1 });
    expect((JSON.parse(readFileSync(kept, "utf8")) as { sections: { resources: { standby: string[] } } }).sections.resources.standby).toEqual(["solo"]);
    expect((await get(`${base}/v1/status`)).stateWriteError).toBeNull();
    expect([await metric("tandem_state_write_failures_total"), await metric("tandem_state_write_failed")]).toEqual([1, 0]);

    // Failing again when it stops: the pending retry does not hold the process.
    breakDir();
    expect((await fetch(`${base}/v1/resources/online/solo`, { method: "POST", headers: auth })).status).toBe(202);
    await waitFor("the second failed write", () => (n.lines().filter((l) => l.event === "state.write-failed").length === 2 ? true : undefined));
    n.proc.kill("SIGTERM");
    expect(await n.exited()).toBe(0);
  }, 30_000);

  test("a state dir that cannot be made: exit 1 with the reason, nothing started", async () => {
    const { file } = await stateful("from-config");
    writeFileSync(join(tmp.dir, "plain-file"), "");
    const n = new NodeProcess(["-c", file, "--node", "solo", "--state-dir", join(tmp.dir, "plain-file", "state")], tmp.dir);
    nodes.push(n);
    expect(await n.exited()).toBe(1);
    const line = n.lines().find((l) => l.msg === "the state dir cannot be used; not starting");
    expect(String(line?.err)).toContain("ENOTDIR");
    expect(n.lines().some((l) => l.event === "runtime.module")).toBe(false);
  });
});
