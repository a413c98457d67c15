/**
 * Where a Worker's entry file is, from the project's root: beside the source
 * under `bun`, or inside the executable that `bun build --compile` made,
 * where the files sit under the root of Bun's embedded file system and a URL
 * made from import.meta.url would point beside the executable instead. Every
 * such entry is listed in scripts/build.mjs, else the executable lacks it.
 */
import { join } from "node:path";
import type { Cancel, Clock } from "./time.ts";

const COMPILED = import.meta.path.startsWith("/$bunfs/");

export function workerEntry(fromRoot: string): string {
  return COMPILED ? `./${fromRoot}` : join(import.meta.dir, "..", fromRoot);
}

/**
 * Tell a worker thread to stop (`{ type: "stop" }`) and terminate it once it
 * answers `{ type: "stopped" }`, fails, or `waitMs` passed on `clock`;
 * resolves then. Its onmessage and onerror are taken over.
 */
export function retireWorker(worker: Worker, clock: Clock, waitMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let cancel: Cancel | null = null;
    const end = () => {
      cancel?.();
      worker.terminate();
      resolve();
    };
    worker.onmessage = (e: MessageEvent<{ type: string }>) => {
      if (e.data.type === "stopped") end();
    };
    worker.onerror = end;
    cancel = clock.after(waitMs, end);
    worker.postMessage({ type: "stop" });
  });
}
