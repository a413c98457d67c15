/**
 * The control side's handle on an NBD server thread (worker.ts): start it
 * with file-backed exports and where to listen, read its counters, stop
 * it (in-flight requests finish, within a bound).
 */
import { retireWorker, workerEntry } from "../../../core/threads.ts";
import type { Clock } from "../../../core/time.ts";
import type { FileExport, FromNbdWorker, ToNbdWorker } from "./messages.ts";
import type { Listen, ServerStats } from "./server.ts";

/** How long a starting thread has to open its exports and listen. */
export const START_TIMEOUT_MS = 10_000;
/** How long a stopping thread has to finish what is in flight. */
export const STOP_WAIT_MS = 5_000;
export const STATS_TIMEOUT_MS = 2_000;

export class NbdThread {
  private constructor(
    private readonly worker: Worker,
    private readonly clock: Clock,
    /** The TCP port listened on, where TCP was asked for (port 0 asks the kernel for one). */
    readonly port: number | undefined,
  ) {}

  static start(exports: FileExport[], listen: Listen, clock: Clock): Promise<NbdThread> {
    const worker = new Worker(workerEntry("modules/replication/nbd/worker.ts"));
    return new Promise((resolve, reject) => {
      const cancel = clock.after(START_TIMEOUT_MS, () => fail(`the NBD thread did not listen within ${START_TIMEOUT_MS} ms`));
      const fail = (message: string) => {
        cancel();
        worker.terminate();
        reject(new Error(message));
      };
      worker.onerror = (e) => fail(e.message);
      worker.onmessage = (e: MessageEvent<FromNbdWorker>) => {
        if (e.data.type === "listening") {
          cancel();
          resolve(new NbdThread(worker, clock, e.data.port));
        } else if (e.data.type === "failed") {
          fail(e.data.message);
        }
      };
      const m: ToNbdWorker = { type: "start", exports, listen };
      worker.postMessage(m);
    });
  }

  stats(): Promise<ServerStats | null> {
    return new Promise((resolve) => {
      const cancel = this.clock.after(STATS_TIMEOUT_MS, () => resolve(null));
      this.worker.onmessage = (e: MessageEvent<FromNbdWorker>) => {
        if (e.data.type !== "stats") return;
        cancel();
        resolve(e.data.stats);
      };
      const m: ToNbdWorker = { type: "stats" };
      this.worker.postMessage(m);
    });
  }

  stop(): Promise<void> {
    return retireWorker(this.worker, this.clock, STOP_WAIT_MS);
  }
}
