/**
 * core/os/nbd.ts: the kernel NBD family's messages byte by byte, against
 * the numbers of <linux/nbd-netlink.h> (written out here, not taken from the
 * module: NBD_ATTR_INDEX 1, SIZE_BYTES 2, BLOCK_SIZE_BYTES 3, TIMEOUT 4,
 * SERVER_FLAGS 5, CLIENT_FLAGS 6, SOCKETS 7, DEAD_CONN_TIMEOUT 8;
 * NBD_SOCK_ITEM 1, NBD_SOCK_FD 1; NBD_CMD_CONNECT 1, DISCONNECT 2; version 1),
 * and the kernel's policy types (INDEX and SOCK_FD u32, the rest u64,
 * SOCKETS nested). The calls themselves need a kernel with nbd: the
 * appliance VM runs them (test/appliance/volume.test.ts); here, a kernel
 * without the family refuses with the clear detail.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { genlPayload } from "../../../core/os/genetlink.ts";
import { ERRNO, OsError, closeSocket } from "../../../core/os/libc.ts";
import { NBD_CMD, NBD_GENL_VERSION, boundedStream, connectAttrs, connectUnix, disconnectAttrs, nbdConnect, nbdDisconnect, nbdIndexOf, sockaddrUn } from "../../../core/os/nbd.ts";
import { tempDir } from "../../helpers.ts";
import { encodeNlas } from "../../../core/os/nlattr.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** The kernel's nbd module, loaded or built in. */
const HAS_NBD = existsSync("/sys/module/nbd");

describe("the kernel NBD family's messages", () => {
  const connect = {
    index: 3,
    sizeBytes: 8 << 20,
    blockSize: 4096,
    timeoutSeconds: 30,
    serverFlags: 0x1 | 0x4 | 0x8 | 0x20 | 0x40 | 0x100,
    clientFlags: 0,
    fds: [7],
  };

  test("CONNECT: index (u32), size, block size, timeout, server and client flags (u64, little-endian), then SOCKETS > SOCK_ITEM > SOCK_FD (u32), nested flags set", () => {
    expect(hex(encodeNlas(connectAttrs(connect)))).toBe(
      [
        "0800" + "0100" + "03000000", // NBD_ATTR_INDEX = 3
        "0c00" + "0200" + "0000800000000000", // NBD_ATTR_SIZE_BYTES = 8 MiB
        "0c00" + "0300" + "0010000000000000", // NBD_ATTR_BLOCK_SIZE_BYTES = 4096
        "0c00" + "0400" + "1e00000000000000", // NBD_ATTR_TIMEOUT = 30 s
        "0c00" + "0500" + "6d01000000000000", // NBD_ATTR_SERVER_FLAGS = HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|CAN_MULTI_CONN
        "0c00" + "0600" + "0000000000000000", // NBD_ATTR_CLIENT_FLAGS = 0
        "1000" + "0780" + ("0c00" + "0180" + ("0800" + "0100" + "07000000")), // NBD_ATTR_SOCKETS { NBD_SOCK_ITEM { NBD_SOCK_FD = 7 } }
      ].join(""),
    );
  });

  test("CONNECT with two sockets and a dead-connection timeout: an item per socket, the timeout last", () => {
    const b = encodeNlas(connectAttrs({ ...connect, fds: [7, 9], deadConnTimeoutSeconds: 10 }));
    expect(hex(b.subarray(6 * 12 - 4))).toBe("1c00" + "0780" + "0c00" + "0180" + "0800010007000000" + "0c00" + "0180" + "0800010009000000" + "0c00" + "0800" + "0a00000000000000");
  });

  test("the generic netlink header: the command, then version 1", () => {
    expect(hex(genlPayload(NBD_CMD.CONNECT, NBD_GENL_VERSION, []))).toBe("01010000");
    expect(hex(genlPayload(NBD_CMD.DISCONNECT, NBD_GENL_VERSION, disconnectAttrs(12)))).toBe("02010000" + "0800" + "0100" + "0c000000");
  });

  test("values out of their types' ranges, and no socket, are refused before anything is sent", () => {
    expect(() => connectAttrs({ ...connect, fds: [] })).toThrow(RangeError);
    expect(() => connectAttrs({ ...connect, index: -1 })).toThrow(RangeError);
    expect(() => connectAttrs({ ...connect, fds: [2 ** 32] })).toThrow(RangeError);
  });

  test("/dev/nbdN is index N; any other path is none", () => {
    expect(["/dev/nbd0", "/dev/nbd15", "/dev/nbd1048575"].map(nbdIndexOf)).toEqual([0, 15, 1048575]);
    expect(["/dev/nbd", "/dev/nbd01", "/dev/nbd1048576", "/dev/nbd0p1", "/dev/sda", "nbd0", "/dev/nbd-1"].map(nbdIndexOf)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  test("sockaddr_un: AF_UNIX, then the path, NUL-padded to 108 bytes; a path that does not fit is refused", () => {
    const sa = sockaddrUn("/run/tandem/data.nbd");
    expect(sa.length).toBe(110);
    expect(hex(sa.subarray(0, 2))).toBe("0100");
    expect(new TextDecoder().decode(sa.subarray(2, 22))).toBe("/run/tandem/data.nbd");
    expect(sa.subarray(22).every((b) => b === 0)).toBe(true);
    expect(() => sockaddrUn(`/${"x".repeat(107)}`)).toThrow(RangeError);
    expect(() => sockaddrUn("")).toThrow(RangeError);
  });
});

describe("a bounded stream on a unix socket (the kernel device's handshake)", () => {
  test("its reads share one bound: a silent server fails the first read once the bound is spent (EAGAIN), and any call after it at once (ETIMEDOUT)", () => {
    const tmp = tempDir("tandem-bounded-");
    const path = `${tmp.dir}/silent.sock`;
    // The kernel's backlog takes the connection: the server never answers (this thread blocks in recv meanwhile).
    const server = Bun.listen({ unix: path, socket: { data() {} } });
    const fd = connectUnix(path, 5_000);
    try {
      const io = boundedStream(fd, 300, "the handshake");
      const started = performance.now();
      expect(() => io.read(18)).toThrow(expect.objectContaining({ errno: ERRNO.EAGAIN }));
      const spent = performance.now() - started;
      expect(spent).toBeGreaterThanOrEqual(250);
      expect(spent).toBeLessThan(3_000);
      const again = performance.now();
      expect(() => io.read(18)).toThrow(expect.objectContaining({ code: "ETIMEDOUT" }));
      expect(() => io.write(new Uint8Array(8))).toThrow(expect.objectContaining({ code: "ETIMEDOUT" }));
      expect(performance.now() - again).toBeLessThan(100);
    } finally {
      closeSocket(fd);
      server.stop(true);
      tmp.cleanup();
    }
  });
});

describe.skipIf(HAS_NBD)("a kernel without nbd", () => {
  test("connect and disconnect are ENOENT, saying to load the module", () => {
    for (const f of [() => nbdConnect({ index: 0, sizeBytes: 4096, blockSize: 4096, timeoutSeconds: 30, serverFlags: 1, clientFlags: 0, fds: [0] }), () => nbdDisconnect(0)]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OsError);
      expect((err as OsError).code).toBe("ENOENT");
      expect((err as OsError).message).toContain("modprobe nbd");
    }
  });
});
