/**
 * The director lab test's client, run inside the client namespace: answers
 * one JSON line per JSON line read. Plain TCP sockets, so that every request
 * of a spread is a connection of its own and a held connection is exactly one.
 *   {"op":"spread","host","port","n","from"?}  n requests, each on a new connection:
 *                                               {"counts":{server:n},"errors":n}
 *   {"op":"open","id","host","port","from"?}   a keep-alive connection, one request: {"server"}
 *   {"op":"again","id"}                         another request on it: {"server"}
 *   {"op":"close","id"}                         {}
 *   {"op":"hold","host","port","n","every","timeoutMs"?,"from"?}
 *                                               n keep-alive connections (the i-th from from[i % length] when given), each a request every `every` ms until
 *                                               released (an answer may take `timeoutMs`, HOLD_TIMEOUT_MS by
 *                                               default: TCP resends through a failover): {"opened":n,"servers":{server:n}}
 *   {"op":"release"}                            the held ones stopped (an answer still awaited is not waited
 *                                               for) and closed: {"survivors","dead","moved","longestPauseMs","errors"}:
 *                                               a survivor answered within the last second, always from the
 *                                               server of its first answer
 */
import { connect, type Socket } from "node:net";

/** Bound on one request, connection included. */
const REQUEST_TIMEOUT_MS = 2_000;
/** Bound on one answer of a held connection: TCP's resends through a failover take seconds at worst. */
const HOLD_TIMEOUT_MS = 15_000;
/** A held connection that answered within this long of its release is alive. */
const ALIVE_MS = 1_000;
/** How long a release waits for the requests under way to end. */
const RELEASE_WAIT_MS = 500;
/** Bound on one answer's size. */
const ANSWER_MAX = 64 * 1024;

interface Connection {
  socket: Socket;
  buffered: Buffer;
  wake: (() => void) | null;
  closed: boolean;
}

const held = new Map<string, Connection>();

function open(host: string, port: number, from?: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(from ? { localAddress: from } : {}) });
    const c: Connection = { socket, buffered: Buffer.alloc(0), wake: null, closed: false };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection to ${host}:${port} within ${REQUEST_TIMEOUT_MS} ms`));
    }, REQUEST_TIMEOUT_MS);
    socket.on("data", (d: Buffer) => {
      c.buffered = Buffer.concat([c.buffered, d]);
      c.wake?.();
    });
    socket.on("close", () => {
      c.closed = true;
      c.wake?.();
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("connect", () => {
      clearTimeout(timer);
      resolve(c);
    });
  });
}

/** One GET on the connection; the body (the real server's name). */
async function request(c: Connection, keepAlive: boolean, timeoutMs = REQUEST_TIMEOUT_MS): Promise<string> {
  c.socket.write(`GET / HTTP/1.1\r\nHost: vip\r\nConnection: ${keepAlive ? "keep-alive" : "close"}\r\n\r\n`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = c.buffered.toString("latin1");
    const end = text.indexOf("\r\n\r\n");
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? NaN);
    if (end >= 0 && c.buffered.length >= end + 4 + length) {
      const body = c.buffered.subarray(end + 4, end + 4 + length).toString("utf8");
      c.buffered = c.buffered.subarray(end + 4 + length);
      return body.trim();
    }
    if (c.closed) throw new Error("the connection closed before a whole answer");
    if (c.buffered.length > ANSWER_MAX) throw new Error(`an answer over ${ANSWER_MAX} bytes`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      c.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    c.wake = null;
  }
}

/** A held connection: the server of its first answer, when it last answered, the longest gap between two answers. */
interface Ticking {
  c: Connection;
  server: string;
  last: number;
  longestPauseMs: number;
  moved: boolean;
  error: string | null;
  done: Promise<void>;
}

const ticking: Ticking[] = [];
let releasing = false;

async function tick(t: Ticking, every: number, timeoutMs: number): Promise<void> {
  while (!releasing) {
    const started = Date.now();
    try {
      const server = await request(t.c, true, timeoutMs);
      if (server !== t.server) t.moved = true;
    } catch (e) {
      t.error = (e as Error).message;
      return;
    }
    const now = Date.now();
    t.longestPauseMs = Math.max(t.longestPauseMs, now - t.last);
    t.last = now;
    await Bun.sleep(Math.max(0, every - (now - started)));
  }
}

async function hold(host: string, port: number, n: number, every: number, timeoutMs: number, from: readonly string[] = []): Promise<unknown> {
  releasing = false;
  const servers: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const c = await open(host, port, from.length ? from[i % from.length] : undefined);
    const server = await request(c, true);
    servers[server] = (servers[server] ?? 0) + 1;
    const t: Ticking = { c, server, last: Date.now(), longestPauseMs: 0, moved: false, error: null, done: Promise.resolve() };
    ticking.push(t);
  }
  for (const t of ticking) t.done = tick(t, every, timeoutMs);
  return { opened: n, servers };
}

async function release(): Promise<unknown> {
  releasing = true;
  await Promise.race([Promise.all(ticking.map((t) => t.done)), Bun.sleep(RELEASE_WAIT_MS)]);
  const now = Date.now();
  const alive = (t: Ticking) => t.error === null && !t.c.closed && !t.moved && now - t.last <= ALIVE_MS;
  const out = {
    survivors: ticking.filter(alive).length,
    dead: ticking.filter((t) => !alive(t)).length,
    moved: ticking.filter((t) => t.moved).length,
    longestPauseMs: Math.max(0, ...ticking.map((t) => t.longestPauseMs)),
    errors: [...new Set(ticking.flatMap((t) => (t.error ? [t.error] : [])))].slice(0, 5),
  };
  for (const t of ticking) t.c.socket.destroy();
  ticking.length = 0;
  return out;
}

type Command = { op: "spread"; host: string; port: number; n: number; from?: string } | { op: "open"; id: string; host: string; port: number; from?: string } | { op: "again"; id: string } | { op: "close"; id: string } | { op: "hold"; host: string; port: number; n: number; every: number; timeoutMs?: number; from?: string[] } | { op: "release" };

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case "spread": {
      const counts: Record<string, number> = {};
      let errors = 0;
      for (let i = 0; i < cmd.n; i++) {
        try {
          const c = await open(cmd.host, cmd.port, cmd.from);
          const server = await request(c, false);
          c.socket.destroy();
          counts[server] = (counts[server] ?? 0) + 1;
        } catch {
          errors++;
        }
      }
      return { counts, errors };
    }
    case "open": {
      const c = await open(cmd.host, cmd.port, cmd.from);
      held.set(cmd.id, c);
      return { server: await request(c, true) };
    }
    case "again":
      return { server: await request(held.get(cmd.id)!, true) };
    case "close":
      held.get(cmd.id)?.socket.destroy();
      held.delete(cmd.id);
      return {};
    case "hold":
      return hold(cmd.host, cmd.port, cmd.n, cmd.every, cmd.timeoutMs ?? HOLD_TIMEOUT_MS, cmd.from);
    case "release":
      return release();
  }
}

let pending = "";
for await (const chunk of Bun.stdin.stream()) {
  pending += new TextDecoder().decode(chunk);
  const lines = pending.split("\n");
  pending = lines.pop()!;
  for (const line of lines.filter((l) => l.trim())) {
    const answer = await handle(JSON.parse(line) as Command).catch((e: Error) => ({ error: e.message }));
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  }
}
for (const c of held.values()) c.socket.destroy();
