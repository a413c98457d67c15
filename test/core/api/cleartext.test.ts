/**
 * Mutating calls over plain HTTP off loopback, at the API worker: the gate
 * tells the server a loopback peer from one on the network, so a POST
 * carrying the token in clear across a network is refused (403) unless
 * api.insecure_http; loopback peers (127.0.0.0/8, ::1, IPv4-mapped on a gate
 * listening on ::) and HTTPS are served.
 */
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { selfSigned, startWorker, type RunningWorker } from "./api-worker.ts";

const TOKEN = "cleartext-token-0123456789";
const ROUTES = [{ method: "post" as const, path: "/v1/mod/act", summary: "a module's action", mutating: true, produces: "application/json" as const, responses: { 202: "accepted" } }];
/**
 * A test address off 127.0.0.0/8, from the benchmarking range, put on lo for
 * this run (root): a connection to it from here has it as its peer address,
 * so the gate sees a peer off loopback while no packet leaves the machine.
 */
const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });
const lan = (() => {
  if (process.getuid?.() !== 0) return undefined;
  for (let i = 0; i < 8; i++) {
    const address = `198.19.254.${((process.pid + i) % 250) + 2}`;
    if (ip("addr", "add", `${address}/32`, "dev", "lo").status === 0) return address;
  }
  return undefined;
})();
if (!lan) console.log("cleartext tests skipped: they put a test address on lo, which needs root");

const workers: RunningWorker[] = [];
afterAll(() => {
  workers.forEach((w) => w.stop());
  if (lan) ip("addr", "del", `${lan}/32`, "dev", "lo");
});
const start = async (...args: Parameters<typeof startWorker>) => {
  const w = await startWorker(...args);
  workers.push(w);
  return w;
};
const access = { token: TOKEN, hosts: ["127.0.0.1", "[::1]", lan ?? "127.0.0.1"] };
const act = (url: string, init: BunFetchRequestInit = {}) => fetch(`${url}/v1/mod/act`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: "{}", ...init });

test.skipIf(!lan)("plain HTTP: a POST from a peer off loopback is refused with 403 naming HTTPS and api.insecure_http; from loopback (also IPv4-mapped, and ::1) it is served; reading stays open", async () => {
  const w = await start({ access, listen: { hostname: "::" }, routes: ROUTES, control: true });
  const refused = await act(`http://${lan}:${w.port}`);
  expect(refused.status).toBe(403);
  expect(refused.headers.get("content-type")).toBe("application/problem+json");
  const body = (await refused.json()) as { detail: string };
  expect(body.detail).toContain("HTTPS");
  expect(body.detail).toContain("api.insecure_http");
  expect(w.received.filter((m) => m.type === "request")).toEqual([]);
  expect((await fetch(`http://${lan}:${w.port}/healthz`)).status).toBe(200);
  expect((await act(`http://127.0.0.1:${w.port}`)).status).toBe(202);
  expect((await act(`http://[::1]:${w.port}`)).status).toBe(202);
});

test.skipIf(!lan)("plain HTTP with api.insecure_http (also set by a reload): a POST from a peer off loopback is served", async () => {
  const w = await start({ access, listen: { hostname: "0.0.0.0" }, routes: ROUTES, control: true });
  expect((await act(`http://${lan}:${w.port}`)).status).toBe(403);
  w.post({ type: "access", access: { ...access, readToken: null, insecureHttp: true } });
  await Bun.sleep(50);
  expect((await act(`http://${lan}:${w.port}`)).status).toBe(202);
});

test.skipIf(!lan)("HTTPS: a POST from a peer off loopback is served", async () => {
  const tls = selfSigned(lan!);
  const w = await start({ access, listen: { hostname: "0.0.0.0", tls }, routes: ROUTES, control: true });
  expect((await act(`https://${lan}:${w.port}`, { tls: { ca: tls.cert } })).status).toBe(202);
});
