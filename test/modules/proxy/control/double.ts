/**
 * The test's side of double-worker.ts: what each worker thread received, by
 * its threadId, and orders to it.
 */
import type { FromWorker, ToWorker, WorkerStats } from "../../../../modules/proxy/messages.ts";

export const DOUBLE_CHANNEL = "tandem-proxy-double";
/** A frontend bound to this address is refused by the double (198.18.0.0/15, never on this machine). */
export const REFUSED_ADDRESS = "198.19.255.254";
export const DOUBLE_ENTRY = new URL("./double-worker.ts", import.meta.url).pathname;

export type Order = { thread: number } & ({ type: "say"; message: FromWorker } | { type: "stats"; stats: WorkerStats } | { type: "exit" });
export interface Report {
  thread: number;
  message: ToWorker;
}

export class Doubles {
  private readonly channel = new BroadcastChannel(DOUBLE_CHANNEL);
  /** By thread, in the order received. */
  readonly received = new Map<number, ToWorker[]>();

  constructor() {
    this.channel.onmessage = (e) => {
      const r = e.data as Report;
      const list = this.received.get(r.thread) ?? [];
      list.push(r.message);
      this.received.set(r.thread, list);
    };
  }

  /** Threads that received a message of `type` (optionally matching `where`), in the order they were first heard. */
  threads<T extends ToWorker["type"]>(type: T, where: (m: Extract<ToWorker, { type: T }>) => boolean = () => true): number[] {
    return [...this.received].filter(([, list]) => list.some((m) => m.type === type && where(m as Extract<ToWorker, { type: T }>))).map(([t]) => t);
  }

  /** The messages of `type` thread `thread` received. */
  of<T extends ToWorker["type"]>(thread: number, type: T): Extract<ToWorker, { type: T }>[] {
    return (this.received.get(thread) ?? []).filter((m): m is Extract<ToWorker, { type: T }> => m.type === type);
  }

  order(o: Order): void {
    this.channel.postMessage(o);
  }

  close(): void {
    this.channel.close();
  }
}
