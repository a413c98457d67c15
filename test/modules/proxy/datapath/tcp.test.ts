import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { echoServer, inProcess, ports, rawClient, workerConfig } from "./harness.ts";
import { waitFor } from "../../../helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tcpProxy(opts: { servers: number[]; tunnel_timeout?: string; retries?: number; connect_timeout?: string }) {
  const [front] = await ports(1);
  const { dp, posted } = inProcess();
  dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: "be", mode: "tcp" }], [{ name: "be", servers: opts.servers.map((port) => ({ port })), ...(opts.tunnel_timeout ? { tunnel_timeout: opts.tunnel_timeout } : {}), ...(opts.retries !== undefined ? { retries: opts.retries } : {}), ...(opts.connect_timeout ? { connect_timeout: opts.connect_timeout } : {}) }]));
  cleanups.push(() => dp.stop(100));
  expect(posted[0]).toMatchObject({ type: "listening" });
  expect(posted[0]).not.toHaveProperty("error");
  return { dp, front: front! };
}

describe("tcp mode", () => {
  test("a 32 MiB upload is echoed back byte for byte through the proxy, with the client's half-close passed on", async () => {
    const [back] = await ports(1);
    const echo = echoServer(back!);
    cleanups.push(echo.stop);
    const { front } = await tcpProxy({ servers: [back!] });
    const c = await rawClient(front, { halfOpen: true });
    const payload = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    let off = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (off < payload.length) {
          const n = c.socket.write(payload.subarray(off, off + 1024 * 1024));
          if (n <= 0) return setTimeout(pump, 1);
          off += n;
        }
        c.socket.shutdown();
        resolve();
      };
      pump();
    });
    await c.ended;
    const got = c.received();
    expect(got.length).toBe(payload.length);
    expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
    expect(echo.connections()).toBe(1);
  }, 20_000);

  test("the server's half-close reaches the client, which may still send", async () => {
    const [back] = await ports(1);
    const got: string[] = [];
    const l = Bun.listen({
      hostname: "127.0.0.1",
      port: back!,
      allowHalfOpen: true,
      socket: {
        open(s) {
          s.write("hello");
          s.shutdown();
        },
        data(_s, d) {
          got.push(String(d));
        },
      },
    });
    cleanups.push(() => l.stop(true));
    const { front } = await tcpProxy({ servers: [back!] });
    const c = await rawClient(front, { halfOpen: true });
    await c.ended;
    expect(c.text()).toBe("hello");
    c.socket.write("after fin");
    await waitFor("the late bytes", () => (got.join("") === "after fin" ? true : undefined), 3000);
  });

  test("an idle tunnel is closed after tunnel_timeout", async () => {
    const [back] = await ports(1);
    const echo = echoServer(back!);
    cleanups.push(echo.stop);
    const { front } = await tcpProxy({ servers: [back!], tunnel_timeout: "300ms" });
    const c = await rawClient(front);
    const t0 = performance.now();
    c.socket.write("ping");
    await waitFor("the echo", () => (c.text() === "ping" ? true : undefined), 3000);
    await c.closed;
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(280);
    expect(took).toBeLessThan(1500);
  });

  test("a refused connect is retried and the last retry redispatched to the server that answers", async () => {
    const [dead, back] = await ports(2);
    const echo = echoServer(back!);
    cleanups.push(echo.stop);
    const { dp, front } = await tcpProxy({ servers: [dead!, back!], retries: 2 });
    for (let i = 0; i < 4; i++) {
      const c = await rawClient(front);
      c.socket.write(`n${i}`);
      await waitFor("the echo", () => (c.text() === `n${i}` ? true : undefined), 3000);
      c.socket.end();
    }
    const be = dp.stats().backends.be!;
    expect(echo.connections()).toBe(4);
    expect(be.retries).toBeGreaterThanOrEqual(2);
    expect(be.redispatches).toBeGreaterThanOrEqual(1);
  });

  test("with every server refusing, the client is closed once the retries are spent", async () => {
    const [dead] = await ports(1);
    const { dp, front } = await tcpProxy({ servers: [dead!], retries: 2 });
    const c = await rawClient(front);
    await c.closed;
    expect(dp.stats().backends.be!.retries).toBe(2);
    expect(dp.stats().backends.be!.servers[`svc/127.0.0.1:${dead}`]!.errors).toBe(3);
  });
});

describe("binds", () => {
  test("an IPv6 bind ([::1]:PORT) serves, and the client's IPv6 address is its source", async () => {
    const [front, back] = await ports(2);
    const echo = echoServer(back!);
    cleanups.push(echo.stop);
    const { dp } = inProcess();
    dp.configure(workerConfig([{ name: "fe", bind: [`[::1]:${front}`], default_backend: "be", mode: "tcp", rule: [{ backend: "v6", source: ["::1/128"] }] }], [{ name: "be", servers: [] }, { name: "v6", servers: [{ port: back! }] }]));
    cleanups.push(() => dp.stop(100));
    const got: string[] = [];
    const s = await Bun.connect({ hostname: "::1", port: front!, socket: { data(_s, d) { got.push(String(d)); } } });
    s.write("over v6");
    await waitFor("the echo", () => (got.join("") === "over v6" ? true : undefined), 3000);
    s.end();
  });
});
