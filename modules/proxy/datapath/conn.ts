/**
 * One TCP (or TLS) socket of the data path, client or server side, with what
 * Bun's sockets leave to their user: a write that the kernel did not take
 * whole is queued here and written on `drain`, and a write before the socket
 * is open (an upstream still connecting) waits the same way. The owner does
 * flow control with `blocked`: it stops reading the other side while this
 * one is blocked, and resumes on `drained` (backpressure, so nothing is
 * buffered without bound). `shutdown` is the half-close (FIN after the
 * queue), `close` the full one (after the queue too), `abort` drops it now.
 */
import type { Socket } from "bun";

export interface ConnOwner {
  data(c: Conn, chunk: Buffer): void;
  /** The peer sent its FIN: it will send nothing more. */
  end(c: Conn): void;
  /** The write queue emptied. */
  drained(c: Conn): void;
  closed(c: Conn, error?: Error): void;
}

/** b[from, to) in memory of its own (Buffer's slice, unlike Uint8Array's, is a view). */
const copyOf = (b: Uint8Array, from: number, to: number): Uint8Array => Uint8Array.prototype.slice.call(b, from, to);

export class Conn {
  socket: Socket<Conn> | null = null;
  private queue: Uint8Array[] = [];
  /** Bytes written here that the kernel has not taken yet. */
  queued = 0;
  /** A FIN (or a close) to send once the queue is empty. */
  private after: "none" | "shutdown" | "close" = "none";
  /** This side sent its FIN (or will once the queue empties): nothing more may be written. */
  writeEnded = false;
  /** The peer sent its FIN. */
  readEnded = false;
  paused = false;
  closed = false;

  constructor(public owner: ConnOwner) {}

  /** The socket is open (accepted, or connected): what was written before goes out. */
  attach(socket: Socket<Conn>): void {
    this.socket = socket;
    socket.data = this;
    if (this.paused) socket.pause();
    this.flush();
  }

  /**
   * Writes b[from, to) (all of b by default; a range spares a subarray, a view
   * object an event). False when the kernel did not take it all (the rest is
   * queued): stop feeding this side until `drained`. `reused`: the caller
   * writes other bytes into b after this call, so what is queued is a copy.
   */
  write(b: Uint8Array, from = 0, to = b.length, reused = false): boolean {
    const size = to - from;
    if (this.closed || this.writeEnded || size <= 0) return !this.closed;
    if (this.queue.length || !this.socket) {
      this.queue.push(reused ? copyOf(b, from, to) : from === 0 && to === b.length ? b : b.subarray(from, to));
      this.queued += size;
      return false;
    }
    const n = this.socket.write(b, from, size);
    if (n === size) return true;
    if (n < 0) return false;
    const rest = reused ? copyOf(b, from + n, to) : b.subarray(from + n, to);
    this.queue.push(rest);
    this.queued += rest.length;
    return false;
  }

  get blocked(): boolean {
    return this.queue.length > 0 || !this.socket;
  }

  /** Writes what is queued; called on Bun's `drain` and on open. */
  flush(): void {
    const s = this.socket;
    if (!s || this.closed) return;
    while (this.queue.length) {
      const head = this.queue[0]!;
      const n = s.write(head);
      if (n < 0) return;
      this.queued -= Math.max(n, 0);
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    if (this.after === "shutdown") {
      this.after = "none";
      s.shutdown();
    } else if (this.after === "close") {
      this.after = "none";
      s.end();
      return;
    }
    this.owner.drained(this);
  }

  /** Half-close: FIN once the queue is written; the peer may still send. */
  shutdown(): void {
    if (this.closed || this.writeEnded) return;
    this.writeEnded = true;
    if (this.blocked) this.after = "shutdown";
    else this.socket!.shutdown();
  }

  /** Close once the queue is written. */
  close(): void {
    if (this.closed) return;
    this.writeEnded = true;
    if (this.blocked && this.socket) this.after = "close";
    else if (this.socket) this.socket.end();
    else this.abort();
  }

  /** Close now, dropping what is queued. */
  abort(): void {
    if (this.closed) return;
    this.queue = [];
    this.queued = 0;
    if (this.socket) this.socket.terminate();
    else this.gone();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
  }

  /** The socket closed (Bun's close or connectError): tell the owner once. */
  gone(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.owner.closed(this, error);
  }
}

/** Bun's handlers for every data-path socket: each event goes to the socket's Conn. */
export const CONN_HANDLERS = {
  binaryType: "buffer",
  open(s: Socket<Conn>) {
    s.data.attach(s);
  },
  // `s.data` is a native getter: read once an event.
  data(s: Socket<Conn>, chunk: Buffer) {
    const c = s.data;
    c.owner.data(c, chunk);
  },
  drain(s: Socket<Conn>) {
    s.data.flush();
  },
  end(s: Socket<Conn>) {
    const c = s.data;
    c.readEnded = true;
    c.owner.end(c);
  },
  close(s: Socket<Conn>, error?: Error) {
    s.data.gone(error);
  },
  /** A handler threw, or a TLS session failed: the socket is dropped. */
  error(s: Socket<Conn>, error: Error) {
    s.terminate();
    s.data.gone(error);
  },
  connectError(s: Socket<Conn>, error: Error) {
    s.data.gone(error);
  },
} as const;
