/**
 * The NBD server on a unix socket, driven byte by byte by a raw client:
 * pipelined requests answered by cookie with the right data, 2 MiB WRITEs
 * arriving in pieces at any pace land whole, a WRITE over the maximum
 * payload refused and its payload skipped (the session goes on), a read-only export and a refusing store answer EPERM, simple
 * replies without structured replies, a bad magic hangs up, DISC closes
 * after the replies, and nothing reaches the file outside the requests.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { CLIENT_FLAG, CMD, CMD_FLAG, OPT, REP } from "../../../../modules/replication/nbd/codec.ts";
import { NbdServer } from "../../../../modules/replication/nbd/server.ts";
import { FileStore, NBD_ERR, StoreError, type BlockStore } from "../../../../modules/replication/nbd/store.ts";
import { SOL_SOCKET, sys } from "../../../../core/os/libc.ts";
import { tempDir } from "../../../helpers.ts";
import { clientFlags, concat, go, option, optionReplies, replies, request, write, type Reply } from "./wire.ts";

const tmp = tempDir("nbd-server");
const SIZE = 4 << 20;
const path = join(tmp.dir, "disk.img");
writeFileSync(path, new Uint8Array(SIZE));
const store = FileStore.open(path);
/** A secondary's store: reads, refuses every change. */
const secondary: BlockStore = {
  size: SIZE,
  blockSize: 4096,
  read: (o, n) => store.read(o, n),
  write: async () => {
    throw new StoreError(NBD_ERR.EPERM, "secondary");
  },
  flush: async () => {},
  trim: async () => {
    throw new StoreError(NBD_ERR.EPERM, "secondary");
  },
  writeZeroes: async () => {
    throw new StoreError(NBD_ERR.EPERM, "secondary");
  },
};
/** A store that keeps each write's data as given (protocol A's queue to the peer does): what it holds must stay as written. */
class KeepingStore implements BlockStore {
  readonly size = SIZE;
  readonly blockSize = 4096;
  kept: Uint8Array[][] = [];
  read = (o: number, n: number) => store.read(o, n);
  write = async (_o: number, data: Uint8Array) => void this.kept.push([data]);
  writev = async (_o: number, parts: readonly Uint8Array[]) => void this.kept.push([...parts]);
  flush = async () => {};
  trim = async () => {};
  writeZeroes = async () => {};
}
const keeping = new KeepingStore();
const SMALL_PAYLOAD = 65536;
const SO_SNDBUF = 7;
const server = new NbdServer([
  { name: "disk", store, multiConn: true },
  { name: "small", store, maxPayload: SMALL_PAYLOAD },
  { name: "ro", store, readOnly: true },
  { name: "secondary", store: secondary },
  { name: "keeping", store: keeping },
]);
const socketPath = join(tmp.dir, "nbd.sock");
server.listen({ unix: socketPath });

/** A store whose writes wait until released: how many it holds at once is what the server let through. */
class HeldStore implements BlockStore {
  readonly size = SIZE;
  readonly blockSize = 4096;
  held: { bytes: number; release: () => void }[] = [];
  most = { writes: 0, bytes: 0 };
  read = (o: number, n: number) => store.read(o, n);
  write(_o: number, data: Uint8Array): Promise<void> {
    return new Promise((release) => {
      this.held.push({ bytes: data.length, release });
      this.most.writes = Math.max(this.most.writes, this.held.length);
      this.most.bytes = Math.max(this.most.bytes, this.held.reduce((n, h) => n + h.bytes, 0));
    });
  }
  releaseAll(): void {
    for (const h of this.held.splice(0)) h.release();
  }
  flush = async () => {};
  trim = async () => {};
  writeZeroes = async () => {};
}
const held = new HeldStore();
const LIMITS = { inFlight: 5, inFlightBytes: 256 * 1024, queuedOutput: 1 << 20 };
const bounded = new NbdServer([{ name: "held", store: held }], LIMITS);
const boundedPath = join(tmp.dir, "bounded.sock");
bounded.listen({ unix: boundedPath });

afterAll(async () => {
  held.releaseAll();
  await bounded.stop();
  await server.stop();
  store.close();
  tmp.cleanup();
});

/** A raw client: bytes out as given, bytes in collected; waits for what a test expects. */
class Raw {
  private buf: Uint8Array = new Uint8Array(0);
  closed = false;
  private wake: (() => void) | null = null;
  private constructor(readonly socket: Socket<undefined>) {}

  static async connect(path = socketPath): Promise<Raw> {
    let raw!: Raw;
    const socket = await Bun.connect({
      unix: path,
      socket: {
        binaryType: "uint8array",
        data: (_s, d: Uint8Array) => raw.got(d),
        drain: () => raw.drain(),
        close: () => raw.got(new Uint8Array(0), true),
      },
    });
    raw = new Raw(socket);
    // A send buffer larger than what Bun reads at once (512 KiB): a large request sent whole waits in the socket, and the server reads its rest straight from it.
    sys().setsockopt((socket as unknown as { fd: number }).fd, SOL_SOCKET, SO_SNDBUF, new Int32Array([4 << 20]), 4);
    return raw;
  }

  private got(d: Uint8Array, closed = false): void {
    this.buf = concat([this.buf, d]);
    this.closed ||= closed;
    this.wake?.();
  }

  /** What the socket did not take yet (the server stopped reading): written as it drains. */
  private unsent: Uint8Array = new Uint8Array(0);

  send(...parts: Uint8Array[]): void {
    this.unsent = concat([this.unsent, ...parts]);
    this.drain();
  }

  drain(): void {
    const n = this.socket.write(this.unsent);
    if (n < 0) throw new Error("socket closed");
    this.unsent = this.unsent.subarray(n);
  }

  /** Waits until `take(bytes)` returns something (it says how many bytes it used), or the socket closes. */
  async until<T>(take: (b: Uint8Array) => { value: T; used: number } | undefined, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const t = take(this.buf);
      if (t) {
        this.buf = this.buf.subarray(t.used);
        return t.value;
      }
      if (this.closed) throw new Error("closed");
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }

  async untilClosed(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await Bun.sleep(10);
    expect(this.closed).toBe(true);
  }

  /** Greeting, client flags, optionally structured replies, then GO for `name`. */
  static async session(name: string, structured = true, path = socketPath): Promise<Raw> {
    const c = await Raw.connect(path);
    await c.until((b) => (b.length >= 18 ? { value: null, used: 18 } : undefined));
    c.send(clientFlags(CLIENT_FLAG.FIXED_NEWSTYLE | CLIENT_FLAG.NO_ZEROES), ...(structured ? [option(OPT.STRUCTURED_REPLY)] : []), go(name));
    await c.until((b) => {
      const { replies: r, rest } = optionReplies(b);
      const last = r.at(-1);
      return last?.option === OPT.GO && last.type === REP.ACK ? { value: null, used: b.length - rest.length } : undefined;
    });
    return c;
  }

  /** Waits for the replies to `count` requests; `reads` maps a READ's cookie to its length. */
  replies(count: number, reads: Map<bigint, number> = new Map()): Promise<Reply[]> {
    const got: Reply[] = [];
    return this.until((b) => {
      const { replies: r, rest } = replies(b, (c) => reads.get(c));
      got.push(...r);
      const used = b.length - rest.length;
      if (got.filter((x) => x.done).length >= count) return { value: got, used };
      this.buf = this.buf.subarray(used);
      return undefined;
    });
  }
}

describe("NBD server", () => {
  test("pipelined writes then reads, answered by cookie with the data written", async () => {
    const c = await Raw.session("disk");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ offset: fc.integer({ min: 0, max: SIZE - 70_000 }), data: fc.uint8Array({ minLength: 1, maxLength: 70_000 }) }), { minLength: 1, maxLength: 100 }),
        async (writes) => {
          // Writes that overlap may land in any order: keep the ones that do not.
          const kept = writes.filter((w, i) => writes.every((o, j) => j === i || o.offset >= w.offset + w.data.length || w.offset >= o.offset + o.data.length));
          c.send(...kept.map((w, i) => write(BigInt(i), w.offset, w.data, i % 7 === 0 ? CMD_FLAG.FUA : 0)));
          const acks = await c.replies(kept.length);
          expect(acks.map((r) => r.error)).toEqual(kept.map(() => 0));
          expect(new Set(acks.map((r) => r.cookie)).size).toBe(kept.length);
          const reads = new Map(kept.map((w, i) => [BigInt(1000 + i), w.data.length]));
          c.send(...kept.map((w, i) => request(CMD.READ, BigInt(1000 + i), w.offset, w.data.length)));
          const got = await c.replies(kept.length, reads);
          for (const r of got) expect(r.data).toEqual(kept[Number(r.cookie) - 1000]!.data);
        },
      ),
      { numRuns: 15 },
    );
    c.send(request(CMD.FLUSH, 1n, 0, 0), request(CMD.DISC, 2n, 0, 0));
    expect((await c.replies(1))[0]).toMatchObject({ cookie: 1n, error: 0 });
    await c.untilClosed();
  });

  test("large READs pipelined again and again (their buffers reused once sent) each answer their own range's bytes", async () => {
    const c = await Raw.session("disk");
    const REGION = 128 * 1024;
    const regions = Array.from({ length: SIZE / REGION }, (_, k) => new Uint8Array(REGION).map((_, i) => (i * 31 + k * 97 + (i >> 9)) % 256));
    c.send(...regions.map((data, k) => write(BigInt(k), k * REGION, data)));
    expect((await c.replies(regions.length)).every((r) => r.error === 0)).toBe(true);
    for (let round = 0; round < 4; round++) {
      const order = regions.map((_, k) => (k * (2 * round + 1) + round) % regions.length);
      const reads = new Map(order.map((_, i) => [BigInt(100 * (round + 1) + i), REGION]));
      c.send(...order.map((k, i) => request(CMD.READ, BigInt(100 * (round + 1) + i), k * REGION, REGION)));
      const got = await c.replies(order.length, reads);
      expect(got.filter((r) => r.done).length).toBe(order.length);
      for (const r of got.filter((x) => x.data)) expect(r.data).toEqual(regions[order[Number(r.cookie) - 100 * (round + 1)]!]);
    }
    c.send(request(CMD.DISC, 1n, 0, 0));
    await c.untilClosed();
  });

  test("2 MiB WRITEs whose bytes come in pieces at any pace (some read by Bun, the rest straight from the socket) land whole, in their ranges", async () => {
    const c = await Raw.session("disk");
    const LEN = 2 << 20;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: LEN + 27 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 255 }), async (cuts, seed) => {
        const payloads = [0, 1].map((k) => new Uint8Array(LEN).map((_, i) => (i * 7 + k * 13 + seed + (i >> 12)) % 251));
        for (const [k, data] of payloads.entries()) {
          const bytes = write(BigInt(k), k * LEN, data);
          // The request cut where the property says (a header alone, a byte, more than Bun reads at once), a pause between the pieces.
          let at = 0;
          for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
            c.send(bytes.subarray(at, cut));
            at = cut;
            await Bun.sleep(2);
          }
          c.send(bytes.subarray(at));
        }
        expect((await c.replies(2)).map((r) => r.error)).toEqual([0, 0]);
        const reads = new Map(payloads.map((_, k) => [BigInt(10 + k), LEN]));
        c.send(...payloads.map((_, k) => request(CMD.READ, BigInt(10 + k), k * LEN, LEN)));
        for (const r of await c.replies(2, reads)) expect(r.data).toEqual(payloads[Number(r.cookie) - 10]);
      }),
      // Two pieces past Bun's 512 KiB read in one payload: the payload's own buffer filled by two reads of ours.
      { numRuns: 6, examples: [[[600_000, 900_000, 1_600_000], 0]] },
    );
    c.send(request(CMD.DISC, 1n, 0, 0));
    await c.untilClosed();
  });

  test("the buffers under large WRITEs are reused only where the store releases them: a store that keeps its data finds each payload as it was sent", async () => {
    const c = await Raw.session("keeping");
    const LEN = 1 << 20;
    const payloads = Array.from({ length: 6 }, (_, k) => new Uint8Array(LEN).map((_, i) => (i * 11 + k * 53 + (i >> 10)) % 253));
    // One after another, each once the last is answered: Bun reads a part of each, the server the rest straight from the socket into a buffer of the payload's length, which a buffer the last one released would be.
    for (const [k, data] of payloads.entries()) {
      c.send(write(BigInt(k), (k % 4) * LEN, data));
      expect((await c.replies(1))[0]!.error).toBe(0);
    }
    expect(keeping.kept.map(concat)).toEqual(payloads);
    c.send(request(CMD.DISC, 1n, 0, 0));
    await c.untilClosed();
  });

  test("a WRITE over the maximum payload: EOVERFLOW, its payload skipped, the session goes on, the file untouched", async () => {
    const before = readFileSync(path);
    const c = await Raw.session("small");
    const big = new Uint8Array(SMALL_PAYLOAD * 24).fill(0x5a);
    // The payload as a valid request stream would look: a skip that went wrong would run into it.
    big.set(write(99n, 0, new Uint8Array(512).fill(0x5a)), 1000);
    // The refused payload in pieces, paused between: what is dropped comes from Bun's reads and from the socket straight.
    const refused = write(1n, 0, big);
    for (const [from, to] of [[0, 28], [28, 30_000], [30_000, 150_000], [150_000, 1_000_000], [1_000_000, refused.length]] as const) {
      c.send(refused.subarray(from, to));
      await Bun.sleep(5);
    }
    c.send(request(CMD.READ, 2n, SMALL_PAYLOAD, 4096), request(CMD.READ, 3n, 0, SMALL_PAYLOAD + 1));
    const r = await c.replies(3, new Map([[2n, 4096]]));
    expect(r.find((x) => x.cookie === 1n)?.error).toBe(NBD_ERR.EOVERFLOW);
    expect(r.find((x) => x.cookie === 2n)?.data).toEqual(new Uint8Array(before.subarray(SMALL_PAYLOAD, SMALL_PAYLOAD + 4096)));
    expect(r.find((x) => x.cookie === 3n)?.error).toBe(NBD_ERR.EOVERFLOW);
    expect(r.some((x) => x.cookie === 99n)).toBe(false);
    expect(readFileSync(path).equals(before)).toBe(true);
    c.send(request(CMD.DISC, 4n, 0, 0));
    await c.untilClosed();
  });

  test("read-only export and a secondary's store refuse changes with EPERM; ranges past the end get EINVAL and ENOSPC", async () => {
    const before = readFileSync(path);
    for (const name of ["ro", "secondary"]) {
      const c = await Raw.session(name, name === "ro");
      c.send(write(1n, 0, new Uint8Array(4096).fill(1)), request(CMD.TRIM, 2n, 0, 4096), request(CMD.WRITE_ZEROES, 3n, 0, 4096), write(4n, SIZE - 1, new Uint8Array(2)), request(CMD.READ, 5n, SIZE, 1));
      const r = await c.replies(5);
      const errno = (cookie: bigint) => r.find((x) => x.cookie === cookie)?.error;
      expect([errno(1n), errno(2n), errno(3n)]).toEqual([NBD_ERR.EPERM, NBD_ERR.EPERM, NBD_ERR.EPERM]);
      expect(errno(4n)).toBe(name === "ro" ? NBD_ERR.EPERM : NBD_ERR.ENOSPC);
      expect(errno(5n)).toBe(NBD_ERR.EINVAL);
      c.send(request(CMD.DISC, 6n, 0, 0));
      await c.untilClosed();
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("simple replies when structured replies were not asked for; unknown commands get EINVAL", async () => {
    const c = await Raw.session("disk", false);
    c.send(write(1n, 8192, new Uint8Array([1, 2, 3])), request(CMD.WRITE_ZEROES, 2n, 8193, 1, CMD_FLAG.FUA | CMD_FLAG.NO_HOLE), request(42, 3n, 0, 0));
    const w = await c.replies(3);
    expect(w.map((r) => [r.cookie, r.error]).sort()).toEqual([
      [1n, 0],
      [2n, 0],
      [3n, NBD_ERR.EINVAL],
    ]);
    c.send(request(CMD.READ, 4n, 8192, 3));
    expect((await c.replies(1, new Map([[4n, 3]])))[0]!.data).toEqual(new Uint8Array([1, 0, 3]));
    c.send(request(CMD.TRIM, 5n, 0, 4096), request(CMD.DISC, 6n, 0, 0));
    expect((await c.replies(1))[0]).toMatchObject({ cookie: 5n, error: 0 });
    await c.untilClosed();
  });

  test("a bad request magic or bad client flags hang up; the server serves the next client", async () => {
    const c = await Raw.session("disk");
    const bad = request(CMD.READ, 1n, 0, 512);
    bad[0] = 0;
    c.send(bad);
    await c.untilClosed();
    const d = await Raw.connect();
    d.send(clientFlags(0xff));
    await d.untilClosed();
    const e = await Raw.session("disk");
    e.send(request(CMD.READ, 1n, 0, 512));
    expect((await e.replies(1, new Map([[1n, 512]])))[0]!.data?.length).toBe(512);
    e.send(request(CMD.DISC, 2n, 0, 0));
    await e.untilClosed();
  });

  test("requests in flight stay within the count and the payload bytes allowed; the rest wait in the client's socket", async () => {
    const c = await Raw.session("held", true, boundedPath);
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await Bun.sleep(10);
    };
    // 64 KiB writes: the payload bound (256 KiB) lets four through at once.
    c.send(...Array.from({ length: 12 }, (_, i) => write(BigInt(i), i * 65536, new Uint8Array(65536).fill(i))));
    let acked = 0;
    while (acked < 12) {
      await until(() => held.held.length > 0);
      await Bun.sleep(50);
      expect(held.held.length).toBeLessThanOrEqual(4);
      const n = held.held.length;
      held.releaseAll();
      acked += (await c.replies(n)).filter((r) => r.error === 0).length;
    }
    expect(held.most).toEqual({ writes: 4, bytes: 4 * 65536 });
    // Small writes: the count bound (5) holds.
    c.send(...Array.from({ length: 12 }, (_, i) => write(BigInt(100 + i), i * 512, new Uint8Array(512))));
    await until(() => held.held.length >= 5);
    await Bun.sleep(50);
    expect(held.held.length).toBe(5);
    while (held.held.length > 0) {
      const n = held.held.length;
      held.releaseAll();
      await c.replies(n);
      await Bun.sleep(30);
    }
    expect(held.most.writes).toBe(5);
    expect(bounded.stats.peakInFlightBytes).toBeLessThanOrEqual(LIMITS.inFlightBytes);
    c.send(request(CMD.DISC, 999n, 0, 0));
    await c.untilClosed();
  });
});
