/**
 * `tandem run` with `[proxy] access_log = 1`: the worker thread writes a
 * pino-shaped line a request to the process's stdout, with the node's name
 * (sent in `configure`), beside the control thread's own log lines, each line
 * whole.
 */
import { afterAll, expect, test } from "bun:test";
import { NodeProcess, freePort, tempDir, waitFor } from "../helpers.ts";
import { soloProxyNode } from "./proxy-node.ts";

const tmp = tempDir("proxy-access");
const nodes: NodeProcess[] = [];
afterAll(() => {
  for (const n of nodes) n.kill();
  tmp.cleanup();
});

test("access_log = 1: one parseable line a request on stdout, written by the worker, in the node's log shape", async () => {
  const [api, front, back] = [await freePort(), await freePort(), await freePort()];
  const backend = Bun.serve({ hostname: "127.0.0.1", port: back, fetch: (r) => new Response(new URL(r.url).pathname === "/missing" ? "no" : "ok", { status: new URL(r.url).pathname === "/missing" ? 404 : 200 }) });
  try {
    const node = await soloProxyNode(tmp.dir, { cluster: "proxyaccess", api, front, back, proxyLines: "access_log = 1\n" }, nodes);
    const paths = Array.from({ length: 20 }, (_, i) => (i === 7 ? "/missing" : `/r/${i}`));
    for (const p of paths) await fetch(`http://127.0.0.1:${front}${p}`);
    const access = () => node.lines().filter((l) => l.event === "proxy.access");
    await waitFor("20 access lines", () => (access().length === 20 ? true : undefined));
    expect(access().map((l) => l.target)).toEqual(paths);
    const line = access()[7]!;
    expect(line).toMatchObject({ level: 30, node: "solo", msg: "proxy.access", frontend: "www", backend: "web", server: `web/127.0.0.1:${back}`, method: "GET", target: "/missing", version: "HTTP/1.1", status: 404 });
    expect(line.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof line.bytes).toBe("number");
    expect(typeof line.ms).toBe("number");
    // Every line is whole JSON (lines() parses each): the worker's writes did not cut the control thread's, nor theirs.
    expect(node.log.split("\n").filter((l) => l !== "" && !l.startsWith("{"))).toEqual([]);
  } finally {
    backend.stop(true);
  }
});
