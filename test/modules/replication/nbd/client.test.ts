/**
 * The client side of the handshake (what the kernel's NBD device needs
 * done first): against the server's own handshake in memory (the export's
 * size and flags, a refusal, a server that is not fixed newstyle, a reply
 * that breaks the protocol), and over a real unix socket to the server in
 * its thread (NbdThread), through core/os/nbd.ts's blocking socket, after
 * which a READ in the transmission phase reads the export's bytes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { closeSocket } from "../../../../core/os/libc.ts";
import { connectUnix, readExact, writeAll } from "../../../../core/os/nbd.ts";
import { realClock } from "../../../../core/time.ts";
import { HandshakeError, negotiate, type ByteStream } from "../../../../modules/replication/nbd/client.ts";
import { concat, greeting, initialHandshake, stepHandshake, TRANSMISSION_FLAG, type Export } from "../../../../modules/replication/nbd/codec.ts";
import { NbdThread } from "../../../../modules/replication/nbd/thread.ts";
import { tempDir } from "../../../helpers.ts";

const EXPORT: Export = { name: "data", description: "", size: 8 << 20, readOnly: false, multiConn: true, minBlock: 1, preferredBlock: 4096, maxPayload: 2 ** 25 };

/** The server's handshake (codec.ts) as a byte stream: what the client writes is stepped at once, what it answers is read. */
function inMemory(first: Uint8Array = greeting(), exports: Export[] = [EXPORT]): ByteStream & { transmission: () => boolean } {
  let state = initialHandshake();
  let input: Uint8Array = new Uint8Array(0);
  let output: Uint8Array = first;
  let transmission = false;
  return {
    transmission: () => transmission,
    read(n) {
      if (output.length < n) throw new Error(`the server has ${output.length} bytes, the client wants ${n}`);
      const out = output.subarray(0, n);
      output = output.subarray(n);
      return out;
    },
    write(bytes) {
      input = concat([input, bytes]);
      for (;;) {
        const s = stepHandshake(state, input, { find: (name) => exports.find((e) => e.name === name || name === ""), list: () => exports });
        input = input.subarray(s.consumed);
        state = s.state;
        output = concat([output, ...s.send]);
        if (s.end?.kind === "transmission") transmission = true;
        if (s.end || s.consumed === 0) return;
      }
    },
  };
}

describe("the client's handshake against the server's", () => {
  test("NBD_OPT_GO: the export's size and transmission flags, and the server in the transmission phase", () => {
    const io = inMemory();
    const got = negotiate(io, "data");
    expect(got.size).toBe(8 << 20);
    const F = TRANSMISSION_FLAG;
    expect(got.flags & (F.HAS_FLAGS | F.SEND_FLUSH | F.SEND_FUA | F.SEND_TRIM | F.SEND_WRITE_ZEROES | F.CAN_MULTI_CONN)).toBe(F.HAS_FLAGS | F.SEND_FLUSH | F.SEND_FUA | F.SEND_TRIM | F.SEND_WRITE_ZEROES | F.CAN_MULTI_CONN);
    expect(got.flags & F.READ_ONLY).toBe(0);
    expect(io.transmission()).toBe(true);
  });

  test("an export the server does not have: its refusal, with its message", () => {
    expect(() => negotiate(inMemory(), "logs")).toThrow(HandshakeError);
    expect(() => negotiate(inMemory(), "logs")).toThrow(/refused export "logs"/);
  });

  test("a server that is not fixed newstyle, or not NBD at all, is refused at its greeting", () => {
    const plain = greeting();
    plain[17] = 0;
    expect(() => negotiate(inMemory(plain), "data")).toThrow("the server does not speak fixed newstyle negotiation");
    expect(() => negotiate(inMemory(new Uint8Array(18)), "data")).toThrow("the server's greeting does not start with NBDMAGIC");
  });

  test("a reply without its magic, or a huge one, is a protocol error, not a read of gigabytes", () => {
    const io = inMemory();
    const real = io.read.bind(io);
    let n = 0;
    io.read = (k) => {
      const b = real(k);
      if (++n === 2) new DataView(b.buffer, b.byteOffset).setUint32(16, 2 ** 31);
      return b;
    };
    expect(() => negotiate(io, "data")).toThrow(/an option reply of 2147483648 bytes/);
  });
});

describe("over a unix socket to the server's thread", () => {
  const tmp = tempDir("nbd-client");
  let thread: NbdThread | undefined;
  afterAll(async () => {
    await thread?.stop();
    tmp.cleanup();
  });

  test("connect, negotiate, then a READ in the transmission phase returns the export's bytes", async () => {
    const disk = join(tmp.dir, "disk.img");
    const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 7) % 251);
    writeFileSync(disk, bytes);
    const sock = join(tmp.dir, "nbd.sock");
    thread = await NbdThread.start([{ name: "vol", path: disk }], { unix: sock }, realClock);
    const fd = connectUnix(sock, 2000);
    try {
      const io: ByteStream = { read: (n) => readExact(fd, n, "read"), write: (b) => writeAll(fd, b, "write") };
      expect(negotiate(io, "vol").size).toBe(1 << 20);
      const req = new Uint8Array(28);
      const v = new DataView(req.buffer);
      v.setUint32(0, 0x25609513);
      v.setUint16(6, 0); // NBD_CMD_READ
      v.setBigUint64(8, 42n);
      v.setBigUint64(16, 4096n);
      v.setUint32(24, 512);
      writeAll(fd, req, "request");
      const reply = readExact(fd, 16 + 512, "reply");
      const r = new DataView(reply.buffer);
      expect([r.getUint32(0), r.getUint32(4), r.getBigUint64(8)]).toEqual([0x67446698, 0, 42n]);
      expect(reply.subarray(16)).toEqual(bytes.subarray(4096, 4096 + 512));
    } finally {
      closeSocket(fd);
    }
  });
});
