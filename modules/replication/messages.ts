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
  /** The peer link sealed as well as authenticated (`encrypt = true`). */
  encrypt: boolean;
  socket: string;
  nbdPort?: number;
  /** The kernel device the primary attaches to its NBD socket (/dev/nbdN). */
  nbdDevice?: string;
}

export type ToReplicationWorker =
  | { type: "start"; cluster: string; keys: ClusterKeys; volumes: VolumeSpec[] }
  | { type: "command"; id: number; volume: string; command: VolumeCommand }
  | { type: "status" }
  | { type: "stop" };

export type FromReplicationWorker =
  | { type: "started" }
  | { type: "failed"; message: string }
  | { type: "event"; volume: string; event: ShellEvent | { type: "nbd"; serving: boolean; error?: string } | { type: "device"; device: string; attached: boolean; error?: string } }
  | { type: "status"; volumes: VolumeStatus[] }
  /** A command's outcome: done, refused by the engine (why), or no such volume. */
  | { type: "result"; id: number; refused?: string }
  | { type: "stopped" };

/** The kernel thread (attach.ts): attach or detach /dev/nbdN; each answered by `done`, with the error when it failed. */
export type ToKernelThread =
  | { type: "attach"; id: number; device: string; socket: string; export: string }
  | { type: "detach"; id: number; device: string }
  | { type: "stop" };

export type FromKernelThread = { type: "done"; id: number; error?: string } | { type: "stopped" };
