/**
 * The http data path's own JavaScript a keep-alive request, without sockets:
 * one HttpSession fed wrk's request and nginx's answer (13 B) as fresh
 * Buffers, each time over a pooled connection, its writes taken whole by
 * stand-in sockets. Prints the CPU time (this process's, user and system: a
 * busy machine's waits are not in it) a request, best of ROUNDS rounds. `bun test/bench/proxy-loop.ts [REQUESTS] [ROUNDS]`.
 */
import type { Socket } from "bun";
import { Conn } from "../../modules/proxy/datapath/conn.ts";
import { HttpSession } from "../../modules/proxy/datapath/http.ts";
import { inProcess, ports, workerConfig } from "../modules/proxy/datapath/harness.ts";

const [requests = 200_000, rounds = 7] = process.argv.slice(2).map(Number);
const [port] = await ports(1);
const { dp } = inProcess();
dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${port}`], default_backend: "be" }], [{ name: "be", pool_idle: 512, servers: [{ port: 1 }, { port: 2 }] }]));
dp.servers([1, 2].map((p) => ({ backend: "be", key: `svc/127.0.0.1:${p}`, up: true, admin: "ready" as const, weight: 1 })));

let written = 0;
function standIn(conn: Conn): void {
  const socket = { write: (_b: Uint8Array, _from: number, size: number) => ((written += size), size), pause() {}, resume() {}, end() {}, terminate() {}, shutdown() {} } as unknown as Socket<Conn>;
  conn.attach(socket);
}
const gen = dp.current;
const fe = gen.frontends.get("fe")!;
const be = gen.backends.get("be")!;
const servers = be.state.balancer.servers;
const serverConns = servers.map((s) => {
  const c = new Conn({ data() {}, end() {}, drained() {}, closed() {} });
  standIn(c);
  be.state.of(s).pool.put(c, 512, 30_000, performance.now());
  return c;
});
const client = new Conn({ data() {}, end() {}, drained() {}, closed() {} });
standIn(client);
const session = new HttpSession(dp, gen, fe, client, { address: "127.0.0.1", port: 40000, localAddress: "127.0.0.1", localPort: port! });
client.owner = session;
session.start(null);

const req = Buffer.from(`GET /small HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, "latin1");
const res = Buffer.from("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 06:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 13\r\nLast-Modified: Sat, 05 Dec 2026 05:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6931f0e0-d\"\r\nAccept-Ranges: bytes\r\n\r\nhello, world\n", "latin1");

/** One request: which pooled connection it took is the one the session's server side now owns. */
function once(i: number): void {
  session.data(client, Buffer.from(req));
  const conn = serverConns[i & 1]!.owner === session ? serverConns[i & 1]! : serverConns[(i + 1) & 1]!;
  session.data(conn, Buffer.from(res));
}

/** This process's CPU time, µs. */
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
let best = Infinity;
for (let r = 0; r < rounds; r++) {
  const t0 = cpu();
  for (let i = 0; i < requests; i++) once(i);
  best = Math.min(best, ((cpu() - t0) * 1e3) / requests);
}
const copies = (() => {
  const t0 = cpu();
  for (let i = 0; i < requests; i++) (Buffer.from(req), Buffer.from(res));
  return ((cpu() - t0) * 1e3) / requests;
})();
console.log(`${best.toFixed(0)} ns a request (best of ${rounds} × ${requests}; of it ~${copies.toFixed(0)} ns the two input Buffers); ${written} bytes written`);
process.exit(0);
