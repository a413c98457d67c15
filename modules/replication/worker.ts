/**
 * The replication thread: the entry of a Bun Worker (service.ts starts it)
 * that runs this node's volumes (volume.ts: engine, disk, peer link) and,
 * for each volume while it is primary here, the NBD server on its socket
 * (nbd/server.ts), and the kernel device attached to it where the volume
 * names one (through the kernel thread, kernel.ts): the data path never
 * runs on the heartbeat's thread. A promotion is answered once the device
 * is attached; a demotion first detaches it, and is refused while it is
 * held (mounted). The kernel thread starts with this one; the resync a
 * promotion starts waits until the device is attached (its handshake, on
 * this thread's NBD socket, goes first).
 * scripts/build.mjs compiles it into the binary.
 */
import { realClock } from "../../core/time.ts";
import { KernelThread } from "./kernel.ts";
import { NbdServer } from "./nbd/server.ts";
import { Volume, type VolumeCommand } from "./volume.ts";
import type { FromReplicationWorker, ToReplicationWorker, VolumeSpec } from "./messages.ts";

declare const self: Worker;

const post = (m: FromReplicationWorker) => self.postMessage(m);

interface Running {
  spec: VolumeSpec;
  volume: Volume;
  server: NbdServer | null;
  /** The NBD server's start or stop under way; a role change waits for it. */
  serving: Promise<void>;
  /** The kernel device is attached to the NBD socket; or why its attach failed. */
  attached: boolean;
  attachError?: string;
}

const running = new Map<string, Running>();
const kernel = new KernelThread();

async function attach(r: Running): Promise<void> {
  const device = r.spec.nbdDevice!;
  const name = r.spec.params.volume;
  const error = await kernel.run({ type: "attach", device, socket: r.spec.socket, export: name });
  r.attached = error === undefined;
  r.attachError = error;
  post({ type: "event", volume: name, event: { type: "device", device, attached: r.attached, ...(error ? { error } : {}) } });
}

/** Detaches the kernel device, when attached; its error (held, mounted) when it is not. */
async function detach(r: Running): Promise<string | undefined> {
  if (!r.attached) return undefined;
  const device = r.spec.nbdDevice!;
  const error = await kernel.run({ type: "detach", device });
  if (error) return error;
  r.attached = false;
  post({ type: "event", volume: r.spec.params.volume, event: { type: "device", device, attached: false } });
  return undefined;
}

/** Serve the volume over NBD while it is primary here, and not otherwise; the resync holds off while the device attaches. */
function follow(r: Running): void {
  const attaching = r.spec.nbdDevice !== undefined && !r.server && r.volume.status().role === "primary";
  const release = attaching ? r.volume.holdResync() : () => undefined;
  r.serving = r.serving.then(async () => {
    const primary = r.volume.status().role === "primary";
    const name = r.spec.params.volume;
    if (primary && !r.server) {
      try {
        const server = new NbdServer([{ name, store: r.volume, multiConn: true }]);
        server.listen({ unix: r.spec.socket, ...(r.spec.nbdPort ? { tcp: { hostname: "127.0.0.1", port: r.spec.nbdPort } } : {}) });
        r.server = server;
        post({ type: "event", volume: name, event: { type: "nbd", serving: true } });
        if (r.spec.nbdDevice) await attach(r);
      } catch (err) {
        post({ type: "event", volume: name, event: { type: "nbd", serving: false, error: (err as Error).message } });
      }
    } else if (!primary && r.server) {
      // Demoted without the command's detach (the engine demoted itself): the device goes before its server.
      await detach(r);
      await r.server.stop();
      r.server = null;
      post({ type: "event", volume: name, event: { type: "nbd", serving: false } });
    }
  }).finally(release);
}

function start(m: Extract<ToReplicationWorker, { type: "start" }>): void {
  try {
    for (const spec of m.volumes) {
      const name = spec.params.volume;
      let r: Running | undefined;
      const volume = Volume.open({
        ...spec,
        cluster: m.cluster,
        keys: m.keys,
        clock: realClock,
        onEvent: (event) => {
          post({ type: "event", volume: name, event });
          if (event.type === "role" && r) follow(r);
        },
      });
      r = { spec, volume, server: null, serving: Promise.resolve(), attached: false };
      running.set(name, r);
    }
    if (m.volumes.some((spec) => spec.nbdDevice !== undefined)) kernel.start();
    post({ type: "started" });
  } catch (err) {
    void stopAll().then(() => post({ type: "failed", message: (err as Error).message }));
  }
}

async function stopAll(): Promise<void> {
  for (const r of running.values()) {
    await r.serving;
    await detach(r);
    await r.server?.stop();
    await r.volume.stop();
  }
  running.clear();
  await kernel.stop();
}

/**
 * A command to a volume: a demotion detaches the kernel device first (and
 * is refused while the device is held); a promotion is answered once the
 * device is attached (refused, promoted, when the attach failed).
 */
async function command(r: Running, c: VolumeCommand): Promise<string | undefined> {
  if (c === "demote") {
    await r.serving;
    const busy = await detach(r);
    if (busy) return `the kernel device could not be detached: ${busy}`;
  }
  const refused = r.volume.command(c);
  if (refused !== undefined || (c !== "promote" && c !== "promote-force") || !r.spec.nbdDevice) return refused;
  await r.serving;
  return r.attached ? undefined : `promoted, but ${r.spec.nbdDevice} is not attached: ${r.attachError ?? "the NBD server did not start"}`;
}

self.onmessage = (e: MessageEvent<ToReplicationWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "start":
      start(m);
      break;
    case "command": {
      const r = running.get(m.volume);
      void (r ? command(r, m.command) : Promise.resolve(`no volume "${m.volume}" here`)).then((refused) => post({ type: "result", id: m.id, ...(refused !== undefined ? { refused } : {}) }));
      break;
    }
    case "status":
      post({ type: "status", volumes: [...running.values()].map((r) => r.volume.status()) });
      break;
    case "stop":
      void stopAll().then(() => post({ type: "stopped" }));
      break;
  }
};
