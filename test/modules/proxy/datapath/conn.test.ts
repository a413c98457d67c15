import { describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { Conn } from "../../../../modules/proxy/datapath/conn.ts";

/**
 * A Conn on a stand-in socket that takes at most `room` bytes at first
 * (attached now, or by `attach` later); `drain` gives it room for the rest,
 * flushes, and says every byte the socket took.
 */
function conn(room: number, attached = true) {
  const took: number[] = [];
  const s = {
    write(b: Uint8Array, from = 0, size = b.length - from) {
      const n = Math.min(size, room);
      took.push(...b.subarray(from, from + n));
      room -= n;
      return n;
    },
    pause() {},
    resume() {},
  } as unknown as Socket<Conn>;
  const c = new Conn({ data() {}, end() {}, drained() {}, closed() {} });
  if (attached) c.attach(s);
  return {
    c,
    attach: () => c.attach(s),
    drain: () => {
      room = Infinity;
      c.flush();
      return Buffer.from(took).toString();
    },
  };
}

describe("Conn writes from a buffer the caller reuses", () => {
  test("what the kernel did not take is queued as a copy: bytes written into the buffer afterwards do not change it", () => {
    const { c, drain } = conn(3);
    const scratch = Buffer.from("abcdefgh");
    expect(c.write(scratch, 0, 6, true)).toBe(false);
    scratch.write("XXXXXXXX");
    expect(drain()).toBe("abcdef");
  });

  test("a write queued behind others, or before the socket opens, is a copy too", () => {
    const { c, attach, drain } = conn(0, false);
    const scratch = Buffer.from("0123");
    c.write(scratch, 1, 3, true);
    scratch.write("ZZZZ");
    attach();
    c.write(scratch.fill(0x41), 0, 2, true);
    scratch.fill(0x42);
    expect(drain()).toBe("12AA");
  });

  test("without `reused` a queued write keeps the caller's bytes (no copy): the received chunks the data path forwards are its own", () => {
    const { c, drain } = conn(1);
    const chunk = Buffer.from("xyz");
    c.write(chunk);
    chunk[2] = 0x21;
    expect(drain()).toBe("xy!");
  });
});
