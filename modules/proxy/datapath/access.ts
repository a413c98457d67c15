/**
 * The access log (`[proxy] access_log`, the share of requests logged): one
 * JSON line per sampled request in the shape of the node's pino lines
 * (core/log.ts: level, time, node, msg; `event: "proxy.access"` as the event
 * lines of cmd/run.ts), written by the worker itself, never through the
 * control thread. Lines are gathered and written at most every BATCH_MS (the
 * worker's housekeeping) or as soon as WRITE_BYTES are held, one write in
 * flight at a time (node:fs `write` on fd 1, off the worker's event loop), at
 * most WRITE_BYTES (PIPE_BUF) of whole lines a write, so a line is never
 * interleaved with the control thread's log lines on a pipe. While stdout is
 * slow at most HOLD_BYTES are held; lines past that are dropped and counted
 * (WorkerStats.accessLogDropped, the control side's
 * tandem_proxy_access_log_dropped_total).
 *
 * `termination` says why the proxy ended an exchange itself, in words where
 * HAProxy writes a termination state (absent when the answer ended normally).
 */
import { write } from "node:fs";
import type { Random } from "../../../core/random.ts";
import { unmapped, type ProxyAddress } from "../http/index.ts";

/** Bytes a write carries at most: Linux's PIPE_BUF, below which a write to a pipe is atomic. */
export const WRITE_BYTES = 4096;
/** Bytes of lines held at most while a write is in flight; more are dropped and counted. */
export const HOLD_BYTES = 1024 * 1024;

/** Why the proxy ended an exchange (HAProxy's termination state, in words). */
export type Termination =
  /** 400 (and 414, 431, 501, 505): the request could not be read. */
  | "bad_request"
  /** 408: the request head did not arrive whole within request_timeout. */
  | "request_timeout"
  /** 503: no server could take it (none up, the queue full or its wait over). */
  | "no_server"
  /** 503: connecting to the server failed, retries included. */
  | "connect_failed"
  /** 502: the server closed its connection before answering. */
  | "server_closed"
  /** 502, or a cut answer: the server's answer was not valid HTTP. */
  | "bad_response"
  /** 504, or a cut answer: the server was silent server_timeout. */
  | "server_timeout"
  /** The client was silent client_timeout while it sent its body. */
  | "client_timeout"
  /** The client went away before its answer ended. */
  | "client_abort"
  /** The server cut its answer. */
  | "server_abort"
  /** The worker stopped and its grace ended. */
  | "stopped";

/** A client as ADDRESS:PORT ([ADDRESS]:PORT for IPv6; an IPv4-mapped address as IPv4). */
export function clientOf(peer: ProxyAddress): string {
  const address = unmapped(peer.address);
  return `${address.includes(":") ? `[${address}]` : address}:${peer.port}`;
}

/** What an exchange's line is made of (http.ts's Exchange has these). */
export interface Logged {
  backend: { def: { name: string } };
  server: { key: string } | null;
  req: { method: string; target: string; version: string };
  startedAt: number;
  /** Bytes sent to the client. */
  bytesOut: number;
}

/** The pino level of an info line. */
const INFO = 30;

/** Writes `text` to the process's stdout and calls `done` when the write ended (failed or not). */
export type AccessSink = (text: string, done: () => void) => void;

export const stdoutSink: AccessSink = (text, done) => write(1, text, () => done());

export class AccessLog {
  private share = 0;
  private node: string | undefined;
  private held: string[] = [];
  private heldBytes = 0;
  private writing = false;
  /** Lines dropped because HOLD_BYTES were held. */
  dropped = 0;

  constructor(
    private readonly random: Random,
    private readonly sink: AccessSink = stdoutSink,
  ) {}

  configure(share: number, node: string | undefined): void {
    this.share = share;
    this.node = node;
  }

  /** Whether a request gets a line: drawn from the worker's random unless the share is 0 or 1. */
  sampled(): boolean {
    return this.share >= 1 || (this.share > 0 && this.random.next() < this.share);
  }

  /** The line of an exchange that ends (x null: a request that could not be read). */
  add(frontend: string, peer: ProxyAddress, x: Logged | null, status: number | null, bytesOut: number, termination?: Termination): void {
    const line = JSON.stringify({
      level: INFO,
      time: Date.now(),
      ...(this.node !== undefined ? { node: this.node } : {}),
      event: "proxy.access",
      frontend,
      backend: x?.backend.def.name ?? null,
      server: x?.server?.key ?? null,
      client: clientOf(peer),
      method: x?.req.method ?? null,
      target: x?.req.target ?? null,
      version: x ? `HTTP/${x.req.version}` : null,
      status,
      bytes: bytesOut,
      ms: x ? Math.round((performance.now() - x.startedAt) * 1000) / 1000 : null,
      ...(termination !== undefined ? { termination } : {}),
      msg: "proxy.access",
    });
    const size = line.length + 1;
    if (this.heldBytes + size > HOLD_BYTES) {
      this.dropped++;
      return;
    }
    this.held.push(line);
    this.heldBytes += size;
    if (this.heldBytes >= WRITE_BYTES) this.flush();
  }

  /** Write what is held (the housekeeping tick, every BATCH_MS), unless a write is in flight: its end writes the rest. */
  flush(): void {
    if (this.writing || this.held.length === 0) return;
    let n = 0;
    let bytes = 0;
    while (n < this.held.length && (n === 0 || bytes + this.held[n]!.length + 1 <= WRITE_BYTES)) bytes += this.held[n++]!.length + 1;
    const text = this.held.splice(0, n).join("\n") + "\n";
    this.heldBytes -= bytes;
    this.writing = true;
    this.sink(text, () => {
      this.writing = false;
      if (this.heldBytes >= WRITE_BYTES) this.flush();
    });
  }
}
