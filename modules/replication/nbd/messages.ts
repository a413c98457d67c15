/**
 * The messages between the node's control thread and the NBD server's
 * thread (worker.ts): the exports to serve (file-backed ones: a path) and
 * where to listen in; back, the TCP port bound, a failure, the counters.
 */
import type { Listen, ServerStats } from "./server.ts";

export type FileExport = { name: string; description?: string; path: string; readOnly?: boolean; maxPayload?: number };

export type ToNbdWorker = { type: "start"; exports: FileExport[]; listen: Listen } | { type: "stats" } | { type: "stop" };

export type FromNbdWorker =
  | { type: "listening"; port?: number }
  | { type: "failed"; message: string }
  | { type: "stats"; stats: ServerStats }
  | { type: "stopped" };
