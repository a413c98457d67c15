/**
 * The replication thread's handle on the kernel thread (attach.ts): started
 * by `start` ahead of its first request (a thread's start is seconds in a
 * loaded VM: it must not eat into an attach's bound), one request at a time
 * in order, an attach bounded by ATTACH_TIMEOUT_MS, a detach by
 * KERNEL_TIMEOUT_MS (a thread that does not answer is terminated and a new
 * one started at once for the next request).
 */
import { retireWorker, workerEntry } from "../../core/threads.ts";
import { realClock } from "../../core/time.ts";
import type { FromKernelThread, ToKernelThread } from "./messages.ts";

/** The kernel thread's handshake (connect, every read and write) is done within this, or tried again on a new connection. */
export const HANDSHAKE_MS = 3000;
export const HANDSHAKE_ATTEMPTS = 3;
/** The pause before a handshake is tried again. */
export const HANDSHAKE_RETRY_MS = 250;
/** A netlink call (1 s) and what is around it: a detach. */
export const KERNEL_TIMEOUT_MS = 4000;
/** An attach: its handshakes, each tried within HANDSHAKE_MS, the pauses between them, and the netlink call. */
export const ATTACH_TIMEOUT_MS = HANDSHAKE_ATTEMPTS * (HANDSHAKE_MS + HANDSHAKE_RETRY_MS) + KERNEL_TIMEOUT_MS;
const STOP_WAIT_MS = 1000;

type Request = { type: "attach"; device: string; socket: string; export: string } | { type: "detach"; device: string };

export class KernelThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  /** Starts the thread, so that the first request finds it running. */
  start(): void {
    this.worker ??= new Worker(workerEntry("modules/replication/attach.ts"));
  }

  /** The request's error, or undefined when it was done. */
  run(r: Request): Promise<string | undefined> {
    const out = this.queue.then(() => this.send(r));
    this.queue = out;
    return out;
  }

  private send(r: Request): Promise<string | undefined> {
    this.start();
    const worker = this.worker!;
    const id = this.nextId++;
    const timeoutMs = r.type === "attach" ? ATTACH_TIMEOUT_MS : KERNEL_TIMEOUT_MS;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        worker.terminate();
        if (this.worker === worker) {
          this.worker = null;
          this.start();
        }
        resolve(`the kernel thread did not answer within ${timeoutMs} ms`);
      }, timeoutMs);
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
