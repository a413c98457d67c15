import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newKey } from "../../../core/crypto/keyfile.ts";
import { realClock } from "../../../core/time.ts";
import type { Socket } from "bun";
import { RESYNC_MIN_RATE, Volume, type ShellEvent } from "../../../modules/replication/volume.ts";
import { metadataBytes } from "../../../modules/replication/metadata.ts";

const SIZE = 1 << 20;
const REGION = 4096;
const KEYS = { active: 1, keys: new Map([[1, await newKey()]]) };
const dirs: string[] = [];
const volumes: Volume[] = [];

afterEach(async () => {
  for (const v of volumes.splice(0)) await v.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/**
 * `alphaDials`: the port alpha dials for bravo (a proxy's), bravo's own by
 * default; `alphaData`: what alpha's new device holds (zeros by default).
 */
function pair(o: { alphaDials?: number; size?: number; regionBytes?: number; resyncRate?: number; alphaData?: Uint8Array } = {}) {
  const { alphaDials, size = SIZE, regionBytes = REGION, resyncRate = 64 * 2 ** 20 } = o;
  const dir = mkdtempSync(join(tmpdir(), "tandem-volume-"));
  dirs.push(dir);
  // Below the kernel's ephemeral range (32768 up), where an outgoing connection may hold a port.
  const port = 20000 + Math.floor(Math.random() * 12000);
  const events: Record<string, ShellEvent[]> = { alpha: [], bravo: [] };
  const open = (self: string, peer: string, selfPort: number, peerPort: number) => {
    const device = join(dir, `${self}.img`);
    if (!existsSync(device)) {
      writeFileSync(device, self === "alpha" && o.alphaData ? o.alphaData : new Uint8Array(0));
      truncateSync(device, size + metadataBytes({ size, regionBytes }));
    }
    const v = Volume.open({
      params: { volume: "data", self, peer, size, regionBytes, protocol: "C", splitBrain: "disconnect", extentRegions: 4, hotExtents: 8, window: 64, batchRegions: 4 },
      device,
      metadata: "internal",
      cluster: "lab",
      keys: KEYS,
      self: { address: "127.0.0.1", port: selfPort },
      peer: { address: "127.0.0.1", port: peerPort },
      resyncRate,
      encrypt: false,
      clock: realClock,
      onEvent: (e) => events[self]!.push(e),
    });
    volumes.push(v);
    return { v, device };
  };
  const a = open("alpha", "bravo", port + 1, alphaDials ?? port);
  const b = open("bravo", "alpha", port, port + 1);
  return { a, b, events, port, reopen: (self = "alpha") => (self === "alpha" ? open("alpha", "bravo", port + 1, port) : open("bravo", "alpha", port, port + 1)) };
}

type Tamper = "flip-payload" | "flip-tag" | "replay";

/**
 * A man in the middle of the link, alpha to bravo: frames passed as they
 * are, but the next one carrying at least `large` bytes, once armed, has a
 * bit of its data or its tag flipped, or is sent twice.
 */
function middle(large: number) {
  const state: { to: number; armed: Tamper | null; done: number } = { to: 0, armed: null, done: 0 };
  const listener = Bun.listen<{ peer: Promise<Socket<unknown>>; held: Uint8Array }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      binaryType: "uint8array",
      open(s) {
        s.data = { held: new Uint8Array(0), peer: Bun.connect({ hostname: "127.0.0.1", port: state.to, socket: { binaryType: "uint8array", data: (_, d) => void s.write(d), close: () => void s.end() } }) };
      },
      async data(s, chunk) {
        const c = s.data;
        const joined = new Uint8Array(c.held.length + chunk.length);
        joined.set(c.held);
        joined.set(chunk, c.held.length);
        let at = 0;
        const out: Uint8Array[] = [];
        while (joined.length - at >= 4) {
          const total = 4 + new DataView(joined.buffer, at).getUint32(0);
          if (joined.length - at < total) break;
          const frame = joined.slice(at, at + total);
          at += total;
          out.push(frame);
          if (state.armed && frame.length >= large) {
            if (state.armed === "flip-payload") frame[frame.length - 1000]! ^= 0x01;
            else if (state.armed === "flip-tag") frame[frame.length - 1]! ^= 0x80;
            else out.push(frame);
            state.armed = null;
            state.done++;
          }
        }
        c.held = joined.slice(at);
        const peer = await c.peer;
        for (const f of out) peer.write(f);
      },
      close: (s) => void s.data?.peer.then((p) => p.end()),
    },
  });
  return { state, port: listener.port, stop: () => listener.stop(true) };
}

describe("a volume over files and a TCP link on loopback", () => {
  test.each(["flip-payload", "flip-tag", "replay"] as const)("a write's frame altered on the way (%s) is refused: the link drops, the peer never applies it, and the write reaches it by the resync after", async (tamper) => {
    const mitm = middle(32 * 1024);
    try {
      const { a, b, port } = pair({ alphaDials: mitm.port });
      mitm.state.to = port;
      await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
      a.v.command("promote-force");
      await until("the initial resync", () => b.v.status().disk === "up-to-date" && b.v.status().connection === "connected" && a.v.status().connection === "connected");
      const at = 8 * 4096;
      mitm.state.armed = tamper;
      await a.v.write(at, new Uint8Array(64 * 1024).fill(0x5a), false);
      expect(mitm.state.done).toBe(1);
      // The tampered frame (or the replayed copy) never opens: bravo drops the link and counts it.
      await until("bravo's link error", () => b.v.status().linkErrors === 1);
      const onBravo = readFileSync(b.device).subarray(at, at + 64 * 1024);
      if (tamper === "replay") expect(onBravo.every((x) => x === 0x5a)).toBe(true);
      else expect(onBravo.every((x) => x === 0)).toBe(true);
      // The write was acknowledged on alpha's disk and stays in its bitmap: the reconnect resyncs it.
      await until("the reconnect and resync", () => b.v.status().connection === "connected" && a.v.status().outOfSyncBytes === 0 && b.v.status().disk === "up-to-date", 15_000);
      await until("bravo's copy", () => readFileSync(b.device).subarray(at, at + 64 * 1024).every((x) => x === 0x5a));
    } finally {
      mitm.stop();
    }
  }, 30_000);

  test("a new pair: forced promotion, full resync to the peer, replicated writes, a secondary refusing writes and promotion", async () => {
    const { a, b, events } = pair();
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("the initial resync", () => b.v.status().connection === "connected" && b.v.status().disk === "up-to-date" && a.v.status().connection === "connected");
    expect(a.v.status()).toMatchObject({ role: "primary", disk: "up-to-date", outOfSyncBytes: 0 });
    const data = new Uint8Array(8192).map((_, i) => i % 251);
    await a.v.write(12_288, data, true);
    expect(readFileSync(b.device).subarray(12_288, 12_288 + 8192)).toEqual(Buffer.from(data));
    expect(await a.v.read(12_288, 8192)).toEqual(data);
    expect(b.v.write(0, new Uint8Array(512), false)).rejects.toMatchObject({ errno: 1 });
    expect(b.v.read(0, 512)).rejects.toMatchObject({ errno: 1 });
    b.v.command("promote");
    expect(events.bravo!.at(-1)).toEqual({ type: "refused", what: "promote", reason: "the peer is primary" });
  }, 30_000);

  test("the resync yields: held (a kernel device's handshake first), it reads nothing until released; with the application's I/O under way it keeps to RESYNC_MIN_RATE", async () => {
    const { a, b } = pair();
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    const release = a.v.holdResync();
    a.v.command("promote-force");
    await until("the resync under way", () => a.v.status().connection === "sync-source");
    await Bun.sleep(300);
    expect(a.v.status()).toMatchObject({ connection: "sync-source", outOfSyncBytes: SIZE, resyncedBytes: 0 });
    const started = performance.now();
    let reads = 0;
    const reading = (async () => {
      for (; a.v.status().connection === "sync-source"; reads++) {
        await a.v.read(0, 4096);
        await Bun.sleep(20);
      }
    })();
    release();
    await until("the resync", () => b.v.status().disk === "up-to-date" && a.v.status().connection === "connected");
    await reading;
    expect(reads).toBeGreaterThan(5);
    // 1 MiB at RESYNC_MIN_RATE (4 MiB/s) with no burst: 250 ms at least (the volume's 64 MiB/s would take 16 ms).
    expect(performance.now() - started).toBeGreaterThanOrEqual((SIZE / RESYNC_MIN_RATE) * 1000 * 0.95);
    expect(readFileSync(b.device).subarray(0, SIZE)).toEqual(readFileSync(a.device).subarray(0, SIZE));
  }, 30_000);

  test("writes under way together: overlapping ones land in the order issued on both sides, whatever copies them (the thread pool for a large one)", async () => {
    const { a, b } = pair();
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("the initial resync", () => b.v.status().disk === "up-to-date" && b.v.status().connection === "connected" && a.v.status().connection === "connected");
    const big = 512 * 1024;
    for (let round = 1; round <= 20; round++) {
      // A large write (copied in the thread pool), a small one inside it (copied at once), another large one beside it: none awaited before the next.
      await Promise.all([
        a.v.write(0, new Uint8Array(big).fill(round), false),
        a.v.write(4096 * round, new Uint8Array(4096).fill(200 + round), false),
        a.v.write(big, new Uint8Array(big).fill(100 + round), false),
      ]);
      for (const device of [a.device, b.device]) {
        const disk = readFileSync(device);
        const small = disk.subarray(4096 * round, 4096 * (round + 1));
        expect(small.every((x) => x === 200 + round)).toBe(true);
        expect(disk.subarray(0, 4096 * round).every((x) => x === round)).toBe(true);
        expect(disk.subarray(big, 2 * big).every((x) => x === 100 + round)).toBe(true);
      }
    }
  }, 30_000);

  test("writes while the peer is away are resent by the bitmap when it returns", async () => {
    const { a, b } = pair();
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("the initial resync", () => b.v.status().disk === "up-to-date" && b.v.status().connection === "connected");
    b.v.command("disconnect");
    await until("the link down", () => a.v.status().connection === "connecting");
    await a.v.write(40_960, new Uint8Array(4096).fill(7), false);
    expect(a.v.status().outOfSyncBytes).toBe(4096);
    b.v.command("connect");
    await until("the resync", () => a.v.status().connection === "connected" && b.v.status().connection === "connected" && a.v.status().outOfSyncBytes === 0);
    expect(readFileSync(b.device).subarray(40_960, 40_960 + 4096).every((x) => x === 7)).toBe(true);
    expect(b.v.status().generations).toEqual(a.v.status().generations);
  }, 30_000);

  test("a clean stop of the primary demotes it: reopened, it has nothing to resync and is not taken for a crashed primary", async () => {
    const { a, b, reopen } = pair();
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("the initial resync", () => b.v.status().disk === "up-to-date" && b.v.status().connection === "connected" && a.v.status().connection === "connected");
    await a.v.write(0, new Uint8Array(4096).fill(1), true);
    await a.v.stop();
    volumes.splice(volumes.indexOf(a.v), 1);
    const again = reopen();
    expect(again.v.status()).toMatchObject({ role: "secondary", outOfSyncBytes: 0 });
    await until("the link again", () => again.v.status().connection === "connected" && b.v.status().connection === "connected");
    expect(again.v.status().generations).toEqual(b.v.status().generations);
  }, 30_000);

  test("a new volume's full resync cut about halfway by a disconnect resumes at the connect: the rest is sent, not the whole, and the copies end identical", async () => {
    const size = 64 * 2 ** 20;
    const alphaData = new Uint8Array(size);
    for (let at = 0; at < size; at += 4096) alphaData.fill((at >> 12) % 251, at, at + 4096);
    // 32 MiB/s: the whole resync takes about 2 s, so a disconnect at half is easy to place.
    const { a, b, events } = pair({ size, regionBytes: 64 * 1024, resyncRate: 32 * 2 ** 20, alphaData });
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("half the resync", () => a.v.status().resyncedBytes >= size / 2);
    b.v.command("disconnect");
    await until("the link down", () => a.v.status().connection === "connecting");
    await Bun.sleep(200);
    const first = a.v.status().resyncedBytes;
    const left = a.v.status().outOfSyncBytes;
    expect(b.v.status().disk).toBe("inconsistent");
    expect(left).toBeGreaterThan(size * 0.3);
    expect(left).toBeLessThan(size * 0.6);
    b.v.command("connect");
    await until("the resync done", () => b.v.status().disk === "up-to-date" && a.v.status().connection === "connected" && b.v.status().connection === "connected", 10_000);
    expect(events.bravo!.filter((e) => e.type === "decision").map((e) => e.type === "decision" && e.decision.rule)).toEqual(["both-inconsistent", "self-empty", "self-resumes"]);
    // The second part read and sent what was left at the cut, not the whole volume.
    const second = a.v.status().resyncedBytes - first;
    expect(second).toBeGreaterThanOrEqual(left);
    expect(second).toBeLessThan(left + size * 0.05);
    expect(a.v.status().resyncedBytes).toBeLessThan(1.3 * size);
    expect(b.v.status().generations).toEqual(a.v.status().generations);
    expect(Buffer.compare(readFileSync(b.device).subarray(0, size), alphaData)).toBe(0);
    expect(Buffer.compare(readFileSync(a.device).subarray(0, size), alphaData)).toBe(0);
  }, 30_000);

  test("a resync target stopped cleanly mid-resync keeps its progress: reopened, it resumes from where it stopped", async () => {
    // 1200 regions: a checkpoint every 19 regions or so, which the resync's bursts (64 regions) do not line up with.
    const size = 1200 * 16 * 1024;
    const alphaData = new Uint8Array(size);
    for (let at = 0; at < size; at += 4096) alphaData.fill((at >> 12) % 241, at, at + 4096);
    const { a, b, events, reopen } = pair({ size, regionBytes: 16 * 1024, resyncRate: 16 * 2 ** 20, alphaData });
    await until("the link", () => a.v.status().connection === "connected" && b.v.status().connection === "connected");
    a.v.command("promote-force");
    await until("half the resync", () => b.v.status().resyncedBytes >= size / 2);
    await b.v.stop();
    volumes.splice(volumes.indexOf(b.v), 1);
    // What it had left when it stopped, its last resync writes done: all of it persisted, not only its last checkpoint.
    const atStop = b.v.status().outOfSyncBytes;
    expect(atStop).toBeLessThan(size * 0.6);
    const again = reopen("bravo");
    expect(again.v.status()).toMatchObject({ disk: "inconsistent", outOfSyncBytes: atStop });
    await until("the resync done", () => again.v.status().disk === "up-to-date" && a.v.status().connection === "connected" && again.v.status().connection === "connected", 10_000);
    expect(events.bravo!.filter((e) => e.type === "decision").map((e) => e.type === "decision" && e.decision.rule)).toEqual(["both-inconsistent", "self-empty", "self-resumes"]);
    // The rest, and what was under way at the stop (acknowledgements the source did not get), not the whole.
    expect(again.v.status().resyncedBytes).toBeLessThan(atStop + size * 0.1);
    expect(Buffer.compare(readFileSync(again.device).subarray(0, size), alphaData)).toBe(0);
  }, 30_000);
});
