/**
 * The replication thread's handle on the kernel thread (attach.ts): started
 * on first use, one request at a time in order, each bounded by
 * KERNEL_TIMEOUT_MS (a thread that does not answer is terminated and a new
 * one started for the next request).
 */
import { retireWorker, workerEntry } from "../../core/threads.ts";
import { realClock } from "../../core/time.ts";
import type { FromKernelThread, ToKernelThread } from "./messages.ts";

/** An attach is a handshake (2 s per read at most) and a netlink call (1 s): this covers both. */
export const KERNEL_TIMEOUT_MS = 4000;
const STOP_WAIT_MS = 1000;

type Request = { type: "attach"; device: string; socket: string; export: string } | { type: "detach"; device: string };

export class KernelThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  /** The request's error, or undefined when it was done. */
  run(r: Request): Promise<string | undefined> {
    const out = this.queue.then(() => this.send(r));
    this.queue = out;
    return out;
  }

  private send(r: Request): Promise<string | undefined> {
    const worker = (this.worker ??= new Worker(workerEntry("modules/replication/attach.ts")));
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        worker.terminate();
        if (this.worker === worker) this.worker = null;
        resolve(`the kernel thread did not answer within ${KERNEL_TIMEOUT_MS} ms`);
      }, KERNEL_TIMEOUT_MS);
      worker.onmessage = (e: MessageEvent<FromKernelThread>) => {
        if (e.data.type !== "done" || e.data.id !== id) return;
        clearTimeout(timer);
        resolve(e.data.error);
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        resolve(e.message);
      };
      const m: ToKernelThread = { ...r, id };
      worker.postMessage(m);
    });
  }

  async stop(): Promise<void> {
    await this.queue;
    if (this.worker) await retireWorker(this.worker, realClock, STOP_WAIT_MS);
    this.worker = null;
  }
}
