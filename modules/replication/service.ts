/**
 * The replication module on the control thread: starts the replication
 * thread (worker.ts) with this node's volumes (those with an `on` entry for
 * it), relays the operator's commands, turns the volumes' events into the
 * node's events and metrics, and keeps their last status (asked every
 * STATUS_MS; a thread that does not answer leaves the last one, marked
 * stale). Nothing of the data path runs here.
 */
import type { Config } from "../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../core/module.ts";
import type { RouteSpec } from "../../core/api/routes.ts";
import type { Cancel } from "../../core/time.ts";
import { retireWorker, workerEntry } from "../../core/threads.ts";
import { closeSync, ftruncateSync, openSync } from "node:fs";
import { dirname, isAbsolute } from "node:path";
import { AL_EXTENT_BYTES, HOT_EXTENTS, RESYNC_BATCH_BYTES, RESYNC_WINDOW_BYTES, inStateDir, parseBytes, socketOf, type VolumeRaw } from "./config.ts";
import { metadataBytes } from "./metadata.ts";
import type { FromReplicationWorker, ToReplicationWorker, VolumeSpec } from "./messages.ts";
import type { VolumeCommand } from "./volume.ts";
import type { VolumeStatus } from "./volume.ts";
import { replicationRoutes } from "./routes.ts";
import { ATTACH_TIMEOUT_MS } from "./kernel.ts";

export const START_TIMEOUT_MS = 30_000;
export const STOP_WAIT_MS = 10_000;
export const STATUS_MS = 1000;
/** How long a command waits for the replication thread's answer; a promotion also for the kernel device's attach. */
export const COMMAND_TIMEOUT_MS = 5000;
export const PROMOTE_TIMEOUT_MS = COMMAND_TIMEOUT_MS + ATTACH_TIMEOUT_MS;

/** What the replication module offers the other modules (the resource manager's promotable volumes, to come). */
export interface ReplicationService {
  /** The volumes on this node as last reported by the replication thread. */
  volumes(): VolumeStatus[];
  /** Milliseconds since the replication thread last answered (its start, or a status it was asked for every STATUS_MS). */
  silentMs(): number;
  /** Hand a command to a volume's engine; resolves with its refusal, if it refused (a thread that does not answer in COMMAND_TIMEOUT_MS, PROMOTE_TIMEOUT_MS for a promotion: refused too). */
  command(volume: string, command: VolumeCommand): Promise<{ refused?: string }>;
}

/** This node's volumes as the thread runs them; relative paths (device, socket) inside `stateDir`, this node's state dir. */
export function volumeSpecs(config: Config, self: string, stateDir = config.stateDir): VolumeSpec[] {
  const address = (node: string) => config.nodes.find((n) => n.name === node)!.address;
  return (config.raw.volumes ?? []).flatMap((v: VolumeRaw) => {
    const mine = v.on.find((o) => o.node === self);
    const peer = v.on.find((o) => o.node !== self);
    if (!mine || !peer) return [];
    const regionBytes = parseBytes(v.region)!;
    return [
      {
        params: {
          volume: v.name,
          self,
          peer: peer.node,
          size: parseBytes(v.size)!,
          regionBytes,
          protocol: v.protocol,
          splitBrain: v.split_brain,
          extentRegions: Math.max(1, AL_EXTENT_BYTES / regionBytes),
          hotExtents: HOT_EXTENTS,
          window: Math.max(1, RESYNC_WINDOW_BYTES / regionBytes),
          batchRegions: Math.max(1, RESYNC_BATCH_BYTES / regionBytes),
        },
        device: inStateDir(mine.device, stateDir),
        metadata: v.metadata,
        self: { address: address(self), port: v.port },
        peer: { address: address(peer.node), port: v.port },
        resyncRate: parseBytes(v.resync_rate)!,
        encrypt: v.encrypt,
        socket: inStateDir(socketOf(v), stateDir),
        ...(v.nbd_port !== undefined ? { nbdPort: v.nbd_port } : {}),
        ...(v.device !== undefined ? { nbdDevice: v.device } : {}),
      },
    ];
  });
}

/**
 * The backing files this node creates when missing: those named relative to its state dir (an absolute path must
 * exist, as DRBD's backing device must), each with the bytes it needs: the volume's, plus the internal metadata's.
 */
export function newBackingFiles(specs: VolumeSpec[], config: Config, self: string): { path: string; bytes: number }[] {
  return specs.flatMap((s) => {
    const raw = (config.raw.volumes ?? []).find((v) => v.name === s.params.volume)!;
    if (isAbsolute(raw.on.find((o) => o.node === self)!.device)) return [];
    const meta = s.metadata === "internal" ? metadataBytes({ size: s.params.size, regionBytes: s.params.regionBytes }) : 0;
    return [{ path: s.device, bytes: s.params.size + meta }];
  });
}

/** Creates `path` sparse, `bytes` long, unless it exists; whether it did. */
function createSparse(path: string, bytes: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return true;
}

export class ReplicationModule implements ModuleInstance {
  private worker: Worker | null = null;
  private specs: VolumeSpec[] = [];
  private last: VolumeStatus[] = [];
  private lastAt = 0;
  /** Each volume's resynced bytes at the last status, to count the difference. */
  private readonly resynced = new Map<string, number>();
  private poll: Cancel | null = null;
  private nextCommand = 1;
  private readonly commands = new Map<number, { done(r: { refused?: string }): void; cancel: Cancel }>();
  private withdraw: () => void = () => undefined;

  constructor(private readonly ctx: ModuleContext) {}

  async start(config: Config): Promise<void> {
    this.specs = volumeSpecs(config, this.ctx.node.name, this.stateDir());
    if (!config.keys) throw new Error("the replication link needs the cluster key");
    for (const f of newBackingFiles(this.specs, config, this.ctx.node.name))
      if (createSparse(f.path, f.bytes)) this.ctx.log.info({ file: f.path, bytes: f.bytes }, `created the backing file ${f.path} (sparse, ${f.bytes} bytes)`);
    const worker = new Worker(workerEntry("modules/replication/worker.ts"));
    await new Promise<void>((resolve, reject) => {
      const cancel = this.ctx.clock.after(START_TIMEOUT_MS, () => fail(`the replication thread did not start within ${START_TIMEOUT_MS} ms`));
      const fail = (message: string) => {
        cancel();
        worker.terminate();
        reject(new Error(message));
      };
      worker.onerror = (e) => fail(e.message);
      worker.onmessage = (e: MessageEvent<FromReplicationWorker>) => {
        if (e.data.type === "started") {
          cancel();
          resolve();
        } else if (e.data.type === "failed") fail(e.data.message);
        else this.onMessage(e.data);
      };
      this.post(worker, { type: "start", cluster: config.cluster, keys: config.keys!, volumes: this.specs });
    });
    worker.onmessage = (e: MessageEvent<FromReplicationWorker>) => this.onMessage(e.data);
    this.worker = worker;
    this.lastAt = this.ctx.clock.now();
    this.askStatus();
    this.withdraw = this.ctx.services.provide("replication", { volumes: () => this.last, silentMs: () => this.ctx.clock.now() - this.lastAt, command: (v, c) => this.command(v, c) });
  }

  /** The volumes' definitions are read at start: a changed one needs a restart of the node (as DRBD's `adjust` would reconnect). */
  async reload(config: Config): Promise<void> {
    const next = JSON.stringify(volumeSpecs(config, this.ctx.node.name, this.stateDir()));
    if (next !== JSON.stringify(this.specs)) throw new Error("the volumes changed: restart the node to take them (a running volume keeps its definition)");
  }

  /** The node's state dir as the runtime keeps it (`tandem run --state-dir` over state_dir). */
  private stateDir(): string | undefined {
    const file = this.ctx.state.file;
    return file === null ? undefined : dirname(file);
  }

  async stop(): Promise<void> {
    this.withdraw();
    for (const [id, c] of this.commands) {
      c.cancel();
      c.done({ refused: "the replication module is stopping" });
      this.commands.delete(id);
    }
    this.poll?.();
    this.poll = null;
    if (this.worker) await retireWorker(this.worker, this.ctx.clock, STOP_WAIT_MS);
    this.worker = null;
  }

  status(): Record<string, unknown> {
    return { volumes: this.last, stale: this.ctx.clock.now() - this.lastAt > 3 * STATUS_MS, sockets: Object.fromEntries(this.specs.map((s) => [s.params.volume, s.socket])) };
  }

  routes(): RouteSpec[] {
    return replicationRoutes({
      status: () => this.status(),
      volumes: () => this.specs.map((s) => s.params.volume),
      command: (volume, command) => this.command(volume, command),
    });
  }

  command(volume: string, command: VolumeCommand): Promise<{ refused?: string }> {
    const worker = this.worker;
    if (!worker) return Promise.resolve({ refused: "the replication module is not running" });
    const id = this.nextCommand++;
    const timeoutMs = command === "promote" || command === "promote-force" ? PROMOTE_TIMEOUT_MS : COMMAND_TIMEOUT_MS;
    return new Promise((done) => {
      const cancel = this.ctx.clock.after(timeoutMs, () => {
        this.commands.delete(id);
        done({ refused: `the replication thread did not answer within ${timeoutMs} ms` });
      });
      this.commands.set(id, { done, cancel });
      this.post(worker, { type: "command", id, volume, command });
    });
  }

  private post(w: Worker, m: ToReplicationWorker): void {
    w.postMessage(m);
  }

  private askStatus(): void {
    if (this.worker) this.post(this.worker, { type: "status" });
    this.poll = this.ctx.clock.after(STATUS_MS, () => this.askStatus());
  }

  private onMessage(m: FromReplicationWorker): void {
    if (m.type === "status") {
      this.last = m.volumes;
      this.lastAt = this.ctx.clock.now();
      this.updateMetrics();
    } else if (m.type === "result") {
      // A command may have changed a role: the status is asked for now, not at the next poll, so that an agent
      // waiting to see the role (a promote before the group starts) waits for the thread, not for STATUS_MS.
      if (this.worker) this.post(this.worker, { type: "status" });
      const c = this.commands.get(m.id);
      if (!c) return;
      this.commands.delete(m.id);
      c.cancel();
      c.done(m.refused !== undefined ? { refused: m.refused } : {});
    } else if (m.type === "event") {
      const { type, ...data } = m.event;
      if (type === "split-brain") this.splitBrains().inc({ volume: m.volume });
      this.ctx.events.emit(`volume.${type}`, { volume: m.volume, ...data });
    }
  }

  private splitBrains() {
    return this.ctx.metrics.counter("tandem_volume_split_brains_total", "reconnects that found the data split (both sides went on apart): each, whether left to the operator, resolved by the policy, or by discard-my-data");
  }

  private updateMetrics(): void {
    const g = (name: string, help: string) => this.ctx.metrics.gauge(name, help);
    const primary = g("tandem_volume_primary", "1 where the volume is primary on this node");
    const upToDate = g("tandem_volume_up_to_date", "1 where this node's replica is up to date");
    const connected = g("tandem_volume_connected", "1 while the peer link is up and the pair agreed (connected or resyncing)");
    const oos = g("tandem_volume_out_of_sync_bytes", "bytes this node's bitmap marks as differing from the peer");
    const left = g("tandem_volume_resync_bytes_left", "bytes the resync under way has left (0 when none)");
    const errors = g("tandem_volume_link_errors", "peer link frames refused (bad tag, order, range) since start");
    const splitBrain = g("tandem_volume_split_brain", "1 while the volume stands alone after a split brain left to the operator (tandem volume discard-my-data on the loser)");
    const rate = g("tandem_volume_resync_bytes_per_second", "the resync's rate under way, measured since it began (0 when none)");
    const resynced = this.ctx.metrics.counter("tandem_volume_resync_bytes_total", "bytes resynced (written as a target, read and sent as a source): flat while a resync has bytes left is a stalled resync");
    for (const v of this.last) {
      const l = { volume: v.name };
      splitBrain.set(+(v.connection === "standalone" && v.reason === "split-brain"), l);
      rate.set(v.resync?.bytesPerSecond ?? 0, l);
      // The thread's count since it started; a smaller one is a new thread, counted from 0.
      const before = this.resynced.get(v.name) ?? 0;
      resynced.inc(l, v.resyncedBytes >= before ? v.resyncedBytes - before : v.resyncedBytes);
      this.resynced.set(v.name, v.resyncedBytes);
      this.splitBrains().inc(l, 0);
      primary.set(+(v.role === "primary"), l);
      upToDate.set(+(v.disk === "up-to-date"), l);
      connected.set(+(v.connection === "connected" || v.connection === "sync-source" || v.connection === "sync-target"), l);
      oos.set(v.outOfSyncBytes, l);
      left.set(v.resync?.bytesLeft ?? 0, l);
      errors.set(v.linkErrors, l);
    }
  }
}
