/** PROXY protocol both ways, and WebSocket upgrades through the proxy. */
import { afterEach, expect, test } from "bun:test";
import { encodeProxyV1, encodeProxyV2 } from "../../../../modules/proxy/http/index.ts";
import { httpBackend, httpProxy, inProcess, ports, rawClient, rawExchange, workerConfig } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

for (const version of ["v1", "v2"] as const) {
  test(`send_proxy ${version}: the server reads the client's address first, on a fresh connection per client`, async () => {
    const [port] = await ports(1);
    const b = httpBackend("pp", port!, { proxyProtocol: true });
    cleanups.push(b.stop);
    const p = await httpProxy([{ name: "be", servers: [{ port: port! }], send_proxy: version }]);
    cleanups.push(() => p.dp.stop(200));
    for (let i = 0; i < 3; i++) expect((await rawExchange(p.front, `GET /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).startsWith("HTTP/1.1 200")).toBe(true);
    expect(b.proxyHeaders).toHaveLength(3);
    expect(b.proxyHeaders[0]).toMatchObject({ version: version === "v1" ? 1 : 2, command: "PROXY", source: { address: "127.0.0.1" }, destination: { address: "127.0.0.1", port: p.front } });
    expect(b.connections()).toBe(3);
  });
}

test("accept_proxy (http): the PROXY header's source is the client: X-Forwarded-For and source rules use it", async () => {
  const [pa, pb] = await ports(2);
  const a = httpBackend("a", pa!);
  const nets = httpBackend("nets", pb!);
  cleanups.push(a.stop, nets.stop);
  const p = await httpProxy([{ name: "be", servers: [{ port: pa! }] }, { name: "tenfour", servers: [{ port: pb! }] }], { accept_proxy: true, rule: [{ backend: "tenfour", source: ["10.4.0.0/16"] }] });
  cleanups.push(() => p.dp.stop(200));
  const v1 = encodeProxyV1({ address: "10.4.5.6", port: 5555 }, { address: "198.18.0.1", port: 80 });
  const t1 = await rawExchange(p.front, Buffer.concat([v1, Buffer.from("GET /v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]));
  expect(t1).toContain('"server":"nets"');
  expect(nets.seen[0]!.headers).toContainEqual(["X-Forwarded-For", "10.4.5.6"]);
  const v2 = encodeProxyV2({ address: "2001:db8::7", port: 4444 }, { address: "2001:db8::1", port: 80 });
  const t2 = await rawExchange(p.front, Buffer.concat([v2, Buffer.from("GET /v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]));
  expect(t2).toContain('"server":"a"');
  expect(a.seen[0]!.headers).toContainEqual(["X-Forwarded-For", "2001:db8::7"]);
  // Without a PROXY header the connection is closed, no request reaches a server.
  const bare = await rawExchange(p.front, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(bare).toBe("");
  expect(a.seen).toHaveLength(1);
});

test("accept_proxy (tcp) with send_proxy v1: the decoded client is passed on to the server", async () => {
  const [front, back] = await ports(2);
  let header = "";
  const l = Bun.listen({ hostname: "127.0.0.1", port: back!, socket: { data(_s, d) { header += String(d); } } });
  cleanups.push(() => l.stop(true));
  const { dp } = inProcess();
  dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: "be", mode: "tcp", accept_proxy: true }], [{ name: "be", servers: [{ port: back! }], send_proxy: "v1" }]));
  cleanups.push(() => dp.stop(100));
  const c = await rawClient(front!);
  c.socket.write(Buffer.concat([encodeProxyV1({ address: "10.9.8.7", port: 1234 }, { address: "10.0.0.1", port: 443 }), Buffer.from("payload")]));
  await waitFor("the header and payload", () => (header.endsWith("payload") ? true : undefined));
  expect(header).toBe("PROXY TCP4 10.9.8.7 10.0.0.1 1234 443\r\npayload");
});

test("WebSocket: the upgrade goes through and messages flow both ways over the tunnel", async () => {
  const [port] = await ports(1);
  const ws = Bun.serve({
    hostname: "127.0.0.1",
    port: port!,
    fetch(req, server) {
      if (server.upgrade(req)) return undefined;
      return new Response("plain");
    },
    websocket: {
      message(socket, message) {
        socket.send(`echo:${message}`);
      },
    },
  });
  cleanups.push(() => ws.stop(true));
  const p = await httpProxy([{ name: "be", servers: [{ port: port! }] }]);
  cleanups.push(() => p.dp.stop(200));
  const client = new WebSocket(`ws://127.0.0.1:${p.front}/chat`);
  const got: string[] = [];
  client.onmessage = (e) => got.push(String(e.data));
  await new Promise<void>((resolve, reject) => {
    client.onopen = () => resolve();
    client.onerror = () => reject(new Error("the WebSocket did not open"));
  });
  for (let i = 0; i < 5; i++) client.send(`m${i}`);
  await waitFor("5 echoes", () => (got.length === 5 ? true : undefined));
  expect(got).toEqual(["echo:m0", "echo:m1", "echo:m2", "echo:m3", "echo:m4"]);
  client.close();
  expect(await (await fetch(`${p.url}/`)).text()).toBe("plain");
});
