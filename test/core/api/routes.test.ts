/**
 * Every endpoint of a node that runs every module with routes (resources,
 * checks, director on nftables, proxy, replication, and the heartbeat), in a
 * network namespace of the test's own so that its dataplane touches nothing
 * here; the test reaches it over a veth. Driven from its own OpenAPI
 * document, one case per operation:
 *
 * - auth: with no token, the read token and the admin token (the open paths
 *   open, reads needing a token, changes needing the admin's), every refusal
 *   a problem+json with its WWW-Authenticate;
 * - bad input: each path parameter in turn given a name the node does not
 *   know is a 4xx problem+json; an operation without parameters asked with a
 *   method it does not have is a 405 whose Allow lists exactly the methods
 *   the document gives that path;
 * - the document is OpenAPI 3.1 in structure (every operation described, its
 *   path parameters declared, every $ref resolving), a JSON answer carries
 *   the fields its schema requires, and every module that runs with routes
 *   is in it. Needs root (a namespace).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { metadataBytes } from "../../../modules/replication/metadata.ts";
import { tandem, tandemArgv, tempDir, waitFor, writeSecret } from "../../helpers.ts";
import { freeSubnets } from "../../lab/net.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/core/api/routes.test.ts: skipped: the node runs in a network namespace of its own (needs root)");

const NS = `tca${process.pid % 100000}`;
const [NET] = ROOT ? (freeSubnets(1, 301) as [string]) : [""];
const ADDRESS = `${NET}2`;
const BASE = `http://${ADDRESS}:9480`;
const ADMIN = "routes-admin-token-0123456789";
const READ = "routes-read-token-0123456789";
const SERVER = `${NET}101:80`;
const VOLUME_BYTES = 1 << 20;
const tmp = tempDir("routes");
let node: ReturnType<typeof Bun.spawn> | null = null;

const sh = (...argv: string[]) => {
  const r = Bun.spawnSync(argv, { timeout: 10_000, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
};

/** A valid value of each path parameter, by name: what the config below has. */
const VALID: Record<string, string> = { node: "peer", group: "web", name: "web", resource: "svc", state: "off", service: "web", server: SERVER, weight: "2", volume: "data", command: "demote" };

interface Operation {
  summary?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
  security?: Array<Record<string, unknown>>;
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, any> }> }>;
}
type Doc = { openapi: string; info: { title?: string; version?: string }; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };
let doc: Doc;

const OPEN = new Set(["/healthz", "/", "/v1/openapi.json"]);
const METHODS = ["get", "post", "put", "delete"];

/** What in `doc` is not OpenAPI 3.1 as this API writes it. */
function structureProblems(d: Doc): string[] {
  const out: string[] = [];
  if (d.openapi !== "3.1.0") out.push(`openapi is ${d.openapi}`);
  if (!d.info?.title || !d.info?.version) out.push("info needs a title and a version");
  const refs: string[] = [];
  const collect = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) k === "$ref" ? refs.push(String(x)) : collect(x);
  };
  collect(d.paths);
  for (const r of refs) {
    const target = r.replace(/^#\//, "").split("/").reduce<any>((o, k) => o?.[k], d);
    if (!r.startsWith("#/") || target === undefined) out.push(`$ref ${r} does not resolve`);
  }
  for (const [path, ops] of Object.entries(d.paths)) {
    if (!path.startsWith("/")) out.push(`${path}: a path starts with /`);
    const named = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
    for (const [method, op] of Object.entries(ops)) {
      const at = `${method} ${path}`;
      if (!METHODS.includes(method)) out.push(`${at}: not an HTTP method`);
      if (!op.summary) out.push(`${at}: no summary`);
      const declared = (op.parameters ?? []).filter((p) => p.in === "path");
      if (JSON.stringify(declared.map((p) => p.name).sort()) !== JSON.stringify(named)) out.push(`${at}: path parameters ${declared.map((p) => p.name)} for ${named}`);
      if (declared.some((p) => p.required !== true)) out.push(`${at}: a path parameter must be required`);
      const codes = Object.keys(op.responses ?? {});
      if (!codes.some((c) => Number(c) < 300)) out.push(`${at}: no success response`);
      for (const [code, r] of Object.entries(op.responses ?? {})) {
        if (!/^[1-5]\d\d$/.test(code)) out.push(`${at}: response code ${code}`);
        if (!r.description) out.push(`${at} ${code}: no description`);
        for (const [type, media] of Object.entries(r.content ?? {})) if (typeof media.schema !== "object") out.push(`${at} ${code} ${type}: no schema`);
        if (Number(code) >= 400 && !r.content?.["application/problem+json"]) out.push(`${at} ${code}: an error is problem+json`);
      }
      for (const s of op.security ?? []) for (const name of Object.keys(s)) if (!(name in d.components.securitySchemes)) out.push(`${at}: security scheme ${name} not defined`);
    }
  }
  return out;
}

/** The operations of the document: method, template, whether it changes something, its JSON schema when it answers JSON. */
function operations(): Array<{ method: string; template: string; mutating: boolean; schema?: Record<string, any>; produces: string }> {
  return Object.entries(doc.paths).flatMap(([template, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const ok = Object.entries(op.responses ?? {}).find(([c]) => Number(c) < 300)![1];
      const [produces, media] = Object.entries(ok.content ?? {})[0] ?? ["", {}];
      return { method, template, mutating: op.security !== undefined, produces, ...(media.schema ? { schema: media.schema } : {}) };
    }),
  );
}

const fill = (template: string, values: Record<string, string>) => template.replace(/\{([^}]+)\}/g, (_, n: string) => encodeURIComponent(values[n] ?? VALID[n] ?? "?"));

async function ask(method: string, path: string, token?: string): Promise<Response> {
  const ctl = new AbortController();
  const res = await fetch(`${BASE}${path}`, { method: method.toUpperCase(), headers: token ? { authorization: `Bearer ${token}` } : {}, signal: ctl.signal });
  // An event stream never ends: its headers are the answer.
  if (res.headers.get("content-type")?.includes("text/event-stream")) ctl.abort();
  return res;
}

async function expectProblem(res: Response, status: number | ((s: number) => boolean), what: string): Promise<Record<string, unknown>> {
  if (typeof status === "number") expect([what, res.status]).toEqual([what, status]);
  else expect([what, status(res.status)]).toEqual([what, true]);
  expect([what, res.headers.get("content-type")]).toEqual([what, "application/problem+json"]);
  const body = (await res.json()) as Record<string, unknown>;
  expect([what, body.status, typeof body.title, typeof body.detail]).toEqual([what, res.status, "string", "string"]);
  return body;
}

describe.skipIf(!ROOT)("every endpoint, from the OpenAPI document", () => {
  beforeAll(async () => {
    const dir = tmp.dir;
    await tandem(["keygen", "-o", join(dir, "cluster.key")]);
    writeSecret(join(dir, "api.token"), ADMIN + "\n");
    writeSecret(join(dir, "read.token"), READ + "\n");
    writeFileSync(join(dir, "solo.img"), new Uint8Array(VOLUME_BYTES + metadataBytes({ size: VOLUME_BYTES, regionBytes: 4096 })));
    writeFileSync(
      join(dir, "tandem.toml"),
      `cluster = "routes"
key_file = "cluster.key"

[[nodes]]
name = "solo"
address = "${ADDRESS}"

# Never started: the volume's peer, and a member to put in standby.
[[nodes]]
name = "peer"
address = "${NET}3"

[heartbeat]
[[heartbeat.links]]
name = "lan"
kind = "ucast"

[api]
token_file = "api.token"
read_token_file = "read.token"
insecure_http = true

[resources]
[[resources.group]]
name = "web"
members = ["svc"]

[[resources.resource]]
name = "svc"
agent = "exec"
params = { start = ["/bin/true"], stop = ["/bin/true"], monitor = ["/bin/true"] }

[[services]]
name = "web"
port = 80
servers = [{ address = "${NET}101" }]
check = { kind = "tcp", interval = "1s" }

[director]
dataplane = "nftables"

[[director.virtual_service]]
name = "web-vip"
address = "${NET}50"
port = 80
service = "web"
forwarding = "nat"

[proxy]
workers = 1
[[proxy.frontend]]
name = "www"
bind = ["${ADDRESS}:8080"]
default_backend = "web"
[[proxy.backend]]
name = "web"
service = "web"

[[volumes]]
name = "data"
size = "1M"
port = 7789
socket = "${dir}/data.nbd"
on = [{ node = "solo", device = "${dir}/solo.img" }, { node = "peer", device = "${dir}/peer.img" }]
`,
    );
    sh("ip", "netns", "add", NS);
    sh("ip", "link", "add", NS, "type", "veth", "peer", "name", "eth0", "netns", NS);
    sh("ip", "addr", "add", `${NET}1/24`, "dev", NS);
    sh("ip", "link", "set", NS, "up");
    sh("ip", "-n", NS, "addr", "add", `${ADDRESS}/24`, "dev", "eth0");
    sh("ip", "-n", NS, "link", "set", "eth0", "up");
    sh("ip", "-n", NS, "link", "set", "lo", "up");
    node = Bun.spawn(["ip", "netns", "exec", NS, ...tandemArgv(), "run", "-c", join(dir, "tandem.toml"), "--node", "solo"], { cwd: dir, stdout: Bun.file(join(dir, "node.log")), stderr: Bun.file(join(dir, "node.err")), stdin: "ignore" });
    await waitFor("the node to answer", async () => ((await fetch(`${BASE}/healthz`)).ok ? true : undefined), 30_000, 200).catch((e) => {
      throw new Error(`${(e as Error).message}; the node said: ${readFileSync(join(dir, "node.err"), "utf8")}${readFileSync(join(dir, "node.log"), "utf8").slice(-2000)}`);
    });
    await waitFor("every module running", async () => {
      const s = (await (await ask("get", "/v1/status", READ)).json()) as { modules: Record<string, { state: string }> };
      return Object.values(s.modules).every((m) => m.state === "running") && Object.keys(s.modules).length >= 7 ? true : undefined;
    }, 30_000, 200);
    doc = (await (await fetch(`${BASE}/v1/openapi.json`)).json()) as Doc;
  }, 90_000);

  afterAll(async () => {
    node?.kill("SIGTERM");
    await Promise.race([node?.exited, Bun.sleep(5000)]);
    node?.kill("SIGKILL");
    Bun.spawnSync(["ip", "netns", "del", NS]);
    Bun.spawnSync(["ip", "link", "del", NS]);
    tmp.cleanup();
  }, 30_000);

  test("the document is OpenAPI 3.1 in structure, and holds every module that runs with routes", async () => {
    expect(structureProblems(doc)).toEqual([]);
    const s = (await (await ask("get", "/v1/status", READ)).json()) as { modules: Record<string, unknown> };
    expect(Object.keys(s.modules).sort()).toEqual(["api", "checks", "director", "heartbeat", "proxy", "replication", "resources"]);
    const prefixes = new Set(Object.keys(doc.paths).map((p) => p.split("/").slice(0, 3).join("/")));
    for (const m of ["resources", "director", "proxy", "replication"]) expect(prefixes).toContain(`/v1/${m}`);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/healthz", "/v1/status", "/v1/events", "/v1/failovers", "/metrics", "/v1/reload", "/v1/openapi.json", "/"]));
    expect(operations().length).toBeGreaterThan(25);
  });

  test("with no token: the open paths answer, every other read is 401, every change is 401", async () => {
    for (const op of operations()) {
      const what = `${op.method} ${op.template}`;
      const res = await ask(op.method, fill(op.template, {}));
      if (!op.mutating && OPEN.has(op.template)) {
        expect([what, res.status]).toEqual([what, 200]);
        continue;
      }
      await expectProblem(res, 401, what);
      expect([what, res.headers.get("www-authenticate")]).toEqual([what, 'Bearer realm="tandem"']);
    }
  });

  test("with the read token: every read answers 200 in its media type, a JSON one with the fields its schema requires; every change is still 401", async () => {
    for (const op of operations()) {
      const what = `${op.method} ${op.template}`;
      const res = await ask(op.method, fill(op.template, {}), READ);
      if (op.mutating) {
        await expectProblem(res, 401, what);
        continue;
      }
      expect([what, res.status]).toEqual([what, 200]);
      expect([what, res.headers.get("content-type")?.split(";")[0]]).toEqual([what, op.produces]);
      if (op.produces !== "application/json") continue;
      const body = (await res.json()) as Record<string, unknown>;
      for (const key of (op.schema?.required as string[] | undefined) ?? []) expect([what, key, key in body]).toEqual([what, key, true]);
    }
  });

  test("with the admin token: every read answers, every change with names the node knows is done (2xx) or refused for the state it is in (409, problem+json)", async () => {
    for (const op of operations()) {
      const what = `${op.method} ${op.template}`;
      const res = await ask(op.method, fill(op.template, {}), ADMIN);
      if (res.status === 409) {
        await expectProblem(res, 409, what);
        continue;
      }
      expect([what, res.status >= 200 && res.status < 300]).toEqual([what, true]);
      if (op.produces === "application/json") expect([what, typeof (await res.json())]).toEqual([what, "object"]);
    }
  });

  test("bad input: each path parameter a name the node does not know is a 4xx problem+json; a method a path does not have is 405 with the document's methods in Allow", async () => {
    for (const op of operations()) {
      const what = `${op.method} ${op.template}`;
      const params = [...op.template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      for (const p of params) {
        const res = await ask(op.method, fill(op.template, { [p]: "nosuch" }), ADMIN);
        await expectProblem(res, (s) => s === 400 || s === 404, `${what} with ${p}=nosuch`);
      }
      const allowed = Object.keys(doc.paths[op.template]!).map((m) => m.toUpperCase());
      const wrong = ["GET", "POST", "PUT", "DELETE"].find((m) => !allowed.includes(m))!;
      const res = await ask(wrong, fill(op.template, {}), ADMIN);
      await expectProblem(res, 405, `${wrong} ${op.template}`);
      expect([what, res.headers.get("allow")?.split(", ").sort()]).toEqual([what, allowed.sort()]);
    }
    await expectProblem(await ask("post", `/v1/resources/move/web/peer?for=soon`, ADMIN), 400, "move ?for=soon");
    await expectProblem(await ask("post", `/v1/resources/maintenance/on?node=peer&resource=svc`, ADMIN), 400, "maintenance of a node and a resource");
    await expectProblem(await ask("post", `/v1/director/servers/web/${SERVER}/weight/heavy`, ADMIN), 400, "weight heavy");
    await expectProblem(await ask("get", "/v1/nosuch", READ), 404, "an unknown path");
  });
});
