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
