/**
 * Requests waiting for a server: a FIFO linked list (O(1) append, removal
 * anywhere), one per backend and one per server (requests a cookie, a stick
 * entry or a hash binds to a server that is full). Entries carry a sequence
 * number so that a freed slot serves the older of its server's head and the
 * backend's head, as HAProxy's pendconn queues do.
 */
import type { Server, Srv } from "./server.ts";

export interface Waiting<H> {
  readonly handle: H;
  readonly source: string;
  readonly exclude: readonly Server[] | undefined;
  /** When it was queued (wall-clock ms). */
  readonly at: number;
  readonly seq: number;
  /** The server it waits for; undefined: any. */
  server: Srv | undefined;
  queue: Fifo<H> | undefined;
  prev: Waiting<H> | undefined;
  next: Waiting<H> | undefined;
}

export class Fifo<H> {
  head: Waiting<H> | undefined;
  tail: Waiting<H> | undefined;
  size = 0;

  push(w: Waiting<H>): void {
    w.queue = this;
    w.prev = this.tail;
    w.next = undefined;
    if (this.tail) this.tail.next = w;
    else this.head = w;
    this.tail = w;
    this.size++;
  }

  /** Put w where its sequence number belongs (entries moved from a server's queue keep their age). */
  insertBySeq(w: Waiting<H>): void {
    let after = this.tail;
    while (after !== undefined && after.seq > w.seq) after = after.prev;
    if (after === this.tail) return this.push(w);
    w.queue = this;
    w.prev = after;
    w.next = after ? after.next : this.head;
    if (after) after.next = w;
    else this.head = w;
    w.next!.prev = w;
    this.size++;
  }

  remove(w: Waiting<H>): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = w.queue = undefined;
    this.size--;
  }
}
