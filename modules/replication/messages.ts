/**
 * The messages between the node's control thread (service.ts) and the
 * replication thread (worker.ts): the volumes to run, the operator's
 * commands; back, the volumes' events as they happen and their status when
 * asked. Each is small and bounded (no data passes here).
 */
import type { ClusterKeys } from "../../core/crypto/keyfile.ts";
import type { VolumeParams } from "./engine.ts";
import type { ShellEvent, VolumeCommand, VolumeStatus } from "./volume.ts";

export interface VolumeSpec {
  params: VolumeParams;
  device: string;
  metadata: "internal" | "external";
  self: { address: string; port: number };
  peer: { address: string; port: number };
  resyncRate: number;
  socket: string;
  nbdPort?: number;
}

export type ToReplicationWorker =
  | { type: "start"; cluster: string; keys: ClusterKeys; volumes: VolumeSpec[] }
  | { type: "command"; id: number; volume: string; command: VolumeCommand }
  | { type: "status" }
  | { type: "stop" };

export type FromReplicationWorker =
  | { type: "started" }
  | { type: "failed"; message: string }
  | { type: "event"; volume: string; event: ShellEvent | { type: "nbd"; serving: boolean; error?: string } }
  | { type: "status"; volumes: VolumeStatus[] }
  /** A command's outcome: done, refused by the engine (why), or no such volume. */
  | { type: "result"; id: number; refused?: string }
  | { type: "stopped" };
