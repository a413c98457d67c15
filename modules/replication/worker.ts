/**
 * The replication thread: the entry of a Bun Worker (service.ts starts it)
 * that runs this node's volumes (volume.ts: engine, disk, peer link) and,
 * for each volume while it is primary here, the NBD server on its socket
 * (nbd/server.ts): the data path never runs on the heartbeat's thread.
 * scripts/build.mjs compiles it into the binary.
 */
import { realClock } from "../../core/time.ts";
import { NbdServer } from "./nbd/server.ts";
import { Volume } from "./volume.ts";
import type { FromReplicationWorker, ToReplicationWorker, VolumeSpec } from "./messages.ts";

declare const self: Worker;

const post = (m: FromReplicationWorker) => self.postMessage(m);

interface Running {
  spec: VolumeSpec;
  volume: Volume;
  server: NbdServer | null;
  /** The NBD server's start or stop under way; a role change waits for it. */
  serving: Promise<void>;
}

const running = new Map<string, Running>();

/** Serve the volume over NBD while it is primary here, and not otherwise. */
function follow(r: Running): void {
  r.serving = r.serving.then(async () => {
    const primary = r.volume.status().role === "primary";
    const name = r.spec.params.volume;
    if (primary && !r.server) {
      try {
        const server = new NbdServer([{ name, store: r.volume, multiConn: true }]);
        server.listen({ unix: r.spec.socket, ...(r.spec.nbdPort ? { tcp: { hostname: "127.0.0.1", port: r.spec.nbdPort } } : {}) });
        r.server = server;
        post({ type: "event", volume: name, event: { type: "nbd", serving: true } });
      } catch (err) {
        post({ type: "event", volume: name, event: { type: "nbd", serving: false, error: (err as Error).message } });
      }
    } else if (!primary && r.server) {
      await r.server.stop();
      r.server = null;
      post({ type: "event", volume: name, event: { type: "nbd", serving: false } });
    }
  });
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
      r = { spec, volume, server: null, serving: Promise.resolve() };
      running.set(name, r);
    }
    post({ type: "started" });
  } catch (err) {
    void stopAll().then(() => post({ type: "failed", message: (err as Error).message }));
  }
}

async function stopAll(): Promise<void> {
  for (const r of running.values()) {
    await r.serving;
    await r.server?.stop();
    await r.volume.stop();
  }
  running.clear();
}

self.onmessage = (e: MessageEvent<ToReplicationWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "start":
      start(m);
      break;
    case "command": {
      const r = running.get(m.volume);
      const refused = r ? r.volume.command(m.command) : `no volume "${m.volume}" here`;
      post({ type: "result", id: m.id, ...(refused !== undefined ? { refused } : {}) });
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
