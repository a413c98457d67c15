import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Conn } from "../../../../modules/proxy/datapath/conn.ts";

/** A stand-in socket that takes at most `room` bytes a write, and records what it took. */
function socket(room: { n: number }) {
  const took: number[] = [];
  const s = {
    write(b: Uint8Array, from = 0, size = b.length - from) {
      const n = Math.min(size, room.n);
      took.push(...b.subarray(from, from + n));
      room.n -= n;
      return n;
    },
    pause() {},
    resume() {},
  };
  return { s: s as unknown as Socket<Conn>, took };
}

const owner = { data() {}, end() {}, drained() {}, closed() {} };

describe("Conn writes from a buffer the caller reuses", () => {
  test("what the kernel did not take is queued as a copy: bytes written into the buffer afterwards do not change it", () => {
    const room = { n: 3 };
    const { s, took } = socket(room);
    const c = new Conn(owner);
    c.attach(s);
    const scratch = Buffer.from("abcdefgh");
    expect(c.write(scratch, 0, 6, true)).toBe(false);
    scratch.write("XXXXXXXX");
    room.n = 100;
    c.flush();
    expect(Buffer.from(took).toString()).toBe("abcdef");
  });

  test("a write queued behind others, or before the socket opens, is a copy too", () => {
    const room = { n: 0 };
    const { s, took } = socket(room);
    const c = new Conn(owner);
    const scratch = Buffer.from("0123");
    c.write(scratch, 1, 3, true);
    scratch.write("ZZZZ");
    c.attach(s);
    c.write(scratch.fill(0x41), 0, 2, true);
    scratch.fill(0x42);
    room.n = 100;
    c.flush();
    expect(Buffer.from(took).toString()).toBe("12AA");
  });

  test("without `reused` a queued write keeps the caller's bytes (no copy): the received chunks the data path forwards are its own", () => {
    const room = { n: 1 };
    const { s, took } = socket(room);
    const c = new Conn(owner);
    c.attach(s);
    const chunk = Buffer.from("xyz");
    c.write(chunk);
    chunk[2] = 0x21;
    room.n = 100;
    c.flush();
    expect(Buffer.from(took).toString()).toBe("xy!");
  });
});
