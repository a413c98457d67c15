/**
 * What the data-path tests share: a worker config from a few fields (the
 * schema's defaults for the rest), a DataPath in this thread (or the real
 * worker thread), backends on 127.0.0.1 that count their connections, and
 * raw clients.
 */
import type { Socket } from "bun";
import { Value } from "@sinclair/typebox/value";
import { BackendSchema, FrontendSchema, ProxySchema } from "../../../../modules/proxy/config.ts";
import type { FromWorker, ProxyServer, ResolvedBackend, ResolvedFrontend, WorkerConfig } from "../../../../modules/proxy/messages.ts";
import { DataPath } from "../../../../modules/proxy/datapath/datapath.ts";
import { BodyFramer, decodeProxy, parseRequestHead, type ProxyHeader } from "../../../../modules/proxy/http/index.ts";
import { freePort } from "../../../helpers.ts";

export type FrontendSpec = Partial<ResolvedFrontend> & { name: string; bind: string[]; default_backend: string };
export type BackendSpec = Partial<Omit<ResolvedBackend, "servers">> & { name: string; servers: { port: number; address?: string; weight?: number; maxconn?: number; backup?: boolean }[] };

export function server(port: number, opts: Partial<ProxyServer> = {}): ProxyServer {
  const address = opts.address ?? "127.0.0.1";
  return { key: `svc/${address}:${port}`, address, port, weight: 1, backup: false, ...opts };
}

let generation = 0;

export function workerConfig(frontends: FrontendSpec[], backends: BackendSpec[], extra: Partial<WorkerConfig> = {}): WorkerConfig {
  const top = Value.Default(ProxySchema, {}) as Record<string, unknown>;
  delete top.frontend;
  delete top.backend;
  return {
    ...(top as Omit<WorkerConfig, "frontends" | "backends" | "generation">),
    frontends: frontends.map((f) => ({ ...(Value.Default(FrontendSchema, { name: f.name, bind: f.bind, default_backend: f.default_backend }) as object), certificates: [], ...f }) as ResolvedFrontend),
    backends: backends.map((b) => ({ ...(Value.Default(BackendSchema, { name: b.name, service: "svc" }) as object), ...b, servers: b.servers.map((s) => server(s.port, s)) }) as ResolvedBackend),
    generation: ++generation,
    ...extra,
  };
}

/** A DataPath in this thread, with the messages it posted. */
export function inProcess(): { dp: DataPath; posted: FromWorker[] } {
  const posted: FromWorker[] = [];
  return { dp: new DataPath((m) => posted.push(m)), posted };
}

export async function ports(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** A raw TCP client: what it received, whether the server closed or half-closed. */
export interface RawClient {
  socket: Socket<undefined>;
  received(): Buffer;
  text(): string;
  ended: Promise<void>;
  closed: Promise<void>;
  isClosed(): boolean;
}

export async function rawClient(port: number, opts: { halfOpen?: boolean } = {}): Promise<RawClient> {
  const chunks: Buffer[] = [];
  let endOk!: () => void;
  let closeOk!: () => void;
  const ended = new Promise<void>((r) => (endOk = r));
  const closed = new Promise<void>((r) => (closeOk = r));
  let isClosed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: opts.halfOpen ?? false,
    socket: {
      data(_s, d) {
        chunks.push(Buffer.from(d));
      },
      end() {
        endOk();
      },
      close() {
        isClosed = true;
        endOk();
        closeOk();
      },
    },
  });
  return { socket, received: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString("latin1"), ended, closed, isClosed: () => isClosed };
}

/** A TCP echo server that writes back what it reads and half-closes after the client's FIN; counts connections. */
export function echoServer(port: number): { connections: () => number; stop: () => void } {
  let connections = 0;
  const queues = new Map<Socket<undefined>, Buffer[]>();
  const pump = (s: Socket<undefined>) => {
    const q = queues.get(s)!;
    while (q.length) {
      const n = s.write(q[0]!);
      if (n < 0) return;
      if (n < q[0]!.length) {
        q[0] = q[0]!.subarray(n);
        return;
      }
      q.shift();
    }
    if ((s as unknown as { eof?: boolean }).eof) s.shutdown();
  };
  const l = Bun.listen({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        connections++;
        queues.set(s, []);
      },
      data(s, d) {
        queues.get(s)!.push(Buffer.from(d));
        pump(s);
      },
      drain: pump,
      end(s) {
        (s as unknown as { eof: boolean }).eof = true;
        pump(s);
      },
      close(s) {
        queues.delete(s);
      },
    },
  });
  return { connections: () => connections, stop: () => l.stop(true) };
}

/** What an HTTP backend saw of one request. */
export interface Seen {
  method: string;
  target: string;
  headers: [string, string][];
  body: string;
  /** The connection's number at this backend (1, 2, ...). */
  connection: number;
}

export interface HttpBackendOptions {
  /** The answer (default 200 with a JSON body naming the backend and what it saw). */
  answer?: (seen: Seen) => { status?: number; headers?: [string, string][]; body?: string | Buffer; delayMs?: number; close?: boolean } | null;
  /** Read a PROXY header first (send_proxy). */
  proxyProtocol?: boolean;
}

/**
 * An HTTP/1.1 server on Bun.listen that counts its connections and keeps
 * every request it saw; keep-alive unless told to close. Built on the
 * proxy's own parser (modules/proxy/http), which has tests of its own.
 */
export function httpBackend(name: string, port: number, opts: HttpBackendOptions = {}) {
  let connections = 0;
  const seen: Seen[] = [];
  const proxyHeaders: ProxyHeader[] = [];
  type State = { buf: Buffer; n: number; proxied: boolean; busy: boolean };
  const serve = (s: Socket<State>) => {
    const st = s.data;
    while (!st.busy) {
      if (opts.proxyProtocol && !st.proxied) {
        const p = decodeProxy(st.buf);
        if (p.kind === "incomplete") return;
        if (p.kind === "error") return void s.end();
        proxyHeaders.push(p.header);
        st.proxied = true;
        st.buf = st.buf.subarray(p.bytes);
      }
      const r = parseRequestHead(st.buf, { maxHeaderBytes: 65536, maxHeaders: 200 });
      if (r.kind === "incomplete") return;
      if (r.kind === "error") return void s.end(`HTTP/1.1 ${r.status} Bad\r\ncontent-length: 0\r\n\r\n`);
      const head = r.head;
      const framer = new BodyFramer(head.body);
      const after = st.buf.subarray(head.headBytes);
      const n = framer.feed(after);
      if (!framer.done) return;
      const body = after.subarray(0, n);
      st.buf = Buffer.from(after.subarray(n));
      const got: Seen = { method: head.method, target: head.target, headers: head.headers, body: body.toString("latin1"), connection: st.n };
      seen.push(got);
      const a = opts.answer ? opts.answer(got) : {};
      if (a === null) return void s.terminate();
      const payload = a.body ?? JSON.stringify({ server: name, target: head.target, connection: st.n });
      const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
      const headLines = [`HTTP/1.1 ${a.status ?? 200} X`, `content-length: ${bytes.length}`, ...(a.headers ?? []).map(([k, v]) => `${k}: ${v}`), ...(a.close ? ["connection: close"] : [])];
      const out = Buffer.concat([Buffer.from(headLines.join("\r\n") + "\r\n\r\n"), head.method === "HEAD" ? Buffer.alloc(0) : bytes]);
      const send = () => {
        writeAll(s, out);
        if (a.close) s.end();
        st.busy = false;
        serve(s);
      };
      if (a.delayMs) {
        st.busy = true;
        setTimeout(send, a.delayMs);
      } else send();
    }
  };
  const l = Bun.listen<State>({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        s.data = { buf: Buffer.alloc(0), n: ++connections, proxied: false, busy: false };
      },
      data(s, d) {
        s.data.buf = Buffer.concat([s.data.buf, d]);
        serve(s);
      },
      drain(s) {
        flushPending(s);
      },
    },
  });
  return { connections: () => connections, seen, proxyHeaders, stop: () => l.stop(true) };
}

const pendingWrites = new WeakMap<object, Buffer[]>();

/** Write all of `b`, the rest on drain. */
function writeAll(s: Socket<unknown>, b: Buffer): void {
  const q = pendingWrites.get(s);
  if (q?.length) return void q.push(b);
  const n = s.write(b);
  if (n < b.length) pendingWrites.set(s, [b.subarray(Math.max(n, 0))]);
}

function flushPending(s: Socket<unknown>): void {
  const q = pendingWrites.get(s);
  while (q?.length) {
    const n = s.write(q[0]!);
    if (n < q[0]!.length) {
      q[0] = q[0]!.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
}

/** An HTTP proxy on `front` (one frontend "fe", backends as given), in this thread. */
export async function httpProxy(backends: BackendSpec[], fe: Partial<FrontendSpec> = {}, extra: Partial<WorkerConfig> = {}) {
  const [front] = await ports(1);
  const { dp, posted } = inProcess();
  const config = (b = backends, f = fe) => workerConfig([{ name: "fe", bind: [`127.0.0.1:${front}`], default_backend: b[0]!.name, ...f }], b, extra);
  dp.configure(config());
  const listening = posted.find((m) => m.type === "listening");
  if (!listening || (listening.type === "listening" && listening.error)) throw new Error(`the proxy did not listen: ${JSON.stringify(listening)}`);
  return { dp, posted, front: front!, url: `http://127.0.0.1:${front}`, config };
}

/** One raw HTTP exchange on a new connection: the bytes sent, everything received until the proxy closes or `until` holds. */
export async function rawExchange(port: number, bytes: string | Buffer, until?: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const c = await rawClient(port);
  c.socket.write(bytes);
  const t0 = Date.now();
  while (!c.isClosed() && !(until?.(c.text()) ?? false) && Date.now() - t0 < timeoutMs) await Bun.sleep(5);
  c.socket.end();
  return c.text();
}

/**
 * A port where connects hang: a socket that listens with a backlog of 0 and
 * never accepts, its queue filled, so the kernel drops further SYNs (python3,
 * since Bun accepts whatever it listens for). Resolves once it is ready.
 */
export async function blackHole(port: number): Promise<{ stop: () => void }> {
  const script = `import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${port})); s.listen(0)
fill=[]
for i in range(3):
    c=socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", ${port}))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.2); print("ready", flush=True); time.sleep(60)`;
  const p = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "inherit" });
  const reader = p.stdout.getReader();
  await reader.read();
  return { stop: () => p.kill() };
}
