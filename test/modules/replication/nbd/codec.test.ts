/**
 * The NBD codec's properties: the handshake answers each option as
 * proto.md says (LIST names every export, GO and INFO describe it, an
 * unknown name or a malformed request gets an error reply and the client
 * may go on), gives the same answers however the bytes are split, and
 * never keeps more than its bounds; a request is carried out only when it
 * is a known command within the export and its payload bound, and anything
 * else is refused with NBD's error, its payload skipped to the byte.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  CLIENT_FLAG,
  CMD,
  CMD_FLAG,
  DEFAULT_MAX_PAYLOAD,
  INFO,
  MAX_OPTION_DATA,
  MAX_OPTIONS,
  OPT,
  readRequest,
  REP,
  TRANSMISSION_FLAG,
  type Export,
  type Session,
} from "../../../../modules/replication/nbd/codec.ts";
import { NBD_ERR } from "../../../../modules/replication/nbd/store.ts";
import { clientFlags, concat, dv, expectSound, go, goData, handshake, option, optionReplies, request } from "./wire.ts";

const EXPORTS: Export[] = [
  { name: "vol0", description: "the first volume", size: 1 << 20, readOnly: false, multiConn: true, minBlock: 1, preferredBlock: 4096, maxPayload: DEFAULT_MAX_PAYLOAD },
  { name: "ro", description: "", size: 3 * 4096, readOnly: true, multiConn: false, minBlock: 512, preferredBlock: 4096, maxPayload: 65536 },
];
const CATALOG = { find: (n: string) => (n === "" ? EXPORTS[0] : EXPORTS.find((e) => e.name === n)), list: () => EXPORTS };

const FIXED = clientFlags(CLIENT_FLAG.FIXED_NEWSTYLE | CLIENT_FLAG.NO_ZEROES);

/** Splits `b` at random points. */
const splits = (b: Uint8Array) =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, b.length - 1) }), { maxLength: 8 }).map((cuts) => {
    const at = [0, ...cuts.filter((c) => c < b.length).sort((x, y) => x - y), b.length];
    return at.slice(1).map((end, i) => b.subarray(at[i], end));
  });

describe("handshake", () => {
  test("LIST names every export, INFO describes one, GO enters transmission with its size and flags", () => {
    const r = handshake([FIXED, option(OPT.LIST), option(OPT.STRUCTURED_REPLY), option(OPT.INFO, goData("ro", [INFO.NAME])), go("vol0", [INFO.BLOCK_SIZE, INFO.DESCRIPTION])], CATALOG);
    expect(r.end?.kind).toBe("transmission");
    const { replies, rest } = optionReplies(r.sent);
    expect(rest.length).toBe(0);
    const list = replies.filter((x) => x.option === OPT.LIST);
    expect(list.map((x) => x.type)).toEqual([REP.SERVER, REP.SERVER, REP.ACK]);
    const names = list.slice(0, 2).map((x) => new TextDecoder().decode(x.data.subarray(4, 4 + dv(x.data).getUint32(0))));
    expect(names).toEqual(["vol0", "ro"]);
    expect(replies.find((x) => x.option === OPT.STRUCTURED_REPLY)?.type).toBe(REP.ACK);

    const infos = (opt: number) => replies.filter((x) => x.option === opt && x.type === REP.INFO).map((x) => x.data);
    const exportInfo = (opt: number) => infos(opt).find((d) => dv(d).getUint16(0) === INFO.EXPORT)!;
    expect(dv(exportInfo(OPT.INFO)).getBigUint64(2)).toBe(3n * 4096n);
    expect(dv(exportInfo(OPT.INFO)).getUint16(10) & TRANSMISSION_FLAG.READ_ONLY).toBe(TRANSMISSION_FLAG.READ_ONLY);
    expect(infos(OPT.INFO).some((d) => dv(d).getUint16(0) === INFO.NAME && new TextDecoder().decode(d.subarray(2)) === "ro")).toBe(true);
    const size = infos(OPT.INFO).find((d) => dv(d).getUint16(0) === INFO.BLOCK_SIZE)!;
    expect([dv(size).getUint32(2), dv(size).getUint32(6), dv(size).getUint32(10)]).toEqual([512, 4096, 65536]);

    expect(dv(exportInfo(OPT.GO)).getBigUint64(2)).toBe(1n << 20n);
    const flags = dv(exportInfo(OPT.GO)).getUint16(10);
    for (const f of [TRANSMISSION_FLAG.HAS_FLAGS, TRANSMISSION_FLAG.SEND_FLUSH, TRANSMISSION_FLAG.SEND_FUA, TRANSMISSION_FLAG.SEND_TRIM, TRANSMISSION_FLAG.SEND_WRITE_ZEROES, TRANSMISSION_FLAG.CAN_MULTI_CONN, TRANSMISSION_FLAG.SEND_DF]) {
      expect(flags & f).toBe(f);
    }
    expect(flags & TRANSMISSION_FLAG.READ_ONLY).toBe(0);
    expect(infos(OPT.GO).some((d) => dv(d).getUint16(0) === INFO.DESCRIPTION && new TextDecoder().decode(d.subarray(2)) === "the first volume")).toBe(true);
    expect(replies.at(-1)).toMatchObject({ option: OPT.GO, type: REP.ACK });
    if (r.end?.kind === "transmission") expect(r.end.session).toMatchObject({ structured: true, flags, export: { name: "vol0" } });
  });

  test("EXPORT_NAME: size, flags, and the 124 zeroes unless NO_ZEROES was agreed; an unknown name ends the session", () => {
    const withZeroes = handshake([clientFlags(CLIENT_FLAG.FIXED_NEWSTYLE), option(OPT.EXPORT_NAME, new TextEncoder().encode("ro"))], CATALOG);
    expect(withZeroes.end?.kind).toBe("transmission");
    expect(withZeroes.sent.length).toBe(134);
    expect(dv(withZeroes.sent).getBigUint64(0)).toBe(3n * 4096n);
    expect(withZeroes.sent.subarray(10).every((b) => b === 0)).toBe(true);
    const bare = handshake([FIXED, option(OPT.EXPORT_NAME)], CATALOG);
    expect(bare.sent.length).toBe(10);
    expect(dv(bare.sent).getBigUint64(0)).toBe(1n << 20n);
    expect(handshake([FIXED, option(OPT.EXPORT_NAME, new TextEncoder().encode("nope"))], CATALOG).end?.kind).toBe("close");
  });

  test("errors the client can go on from: unknown export, malformed GO, data where none belongs, unknown options, STARTTLS", () => {
    const bad = new Uint8Array(goData("vol0", [1]));
    dv(bad).setUint32(0, 999); // a name length past the data
    const r = handshake([FIXED, go("nope"), option(OPT.GO, bad), option(OPT.LIST, new Uint8Array(1)), option(OPT.STRUCTURED_REPLY, new Uint8Array(2)), option(OPT.STARTTLS), option(77), option(OPT.ABORT)], CATALOG);
    expect(r.end).toEqual({ kind: "close", reason: "client aborted" });
    expect(optionReplies(r.sent).replies.map((x) => [x.option, x.type])).toEqual([
      [OPT.GO, REP.ERR_UNKNOWN],
      [OPT.GO, REP.ERR_INVALID],
      [OPT.LIST, REP.ERR_INVALID],
      [OPT.STRUCTURED_REPLY, REP.ERR_INVALID],
      [OPT.STARTTLS, REP.ERR_UNSUP],
      [77, REP.ERR_UNSUP],
      [OPT.ABORT, REP.ACK],
    ]);
  });

  test("unknown client flags, a bad option magic, too many options end the session", () => {
    expect(handshake([clientFlags(1 << 5)], CATALOG).end?.kind).toBe("close");
    const badMagic = option(OPT.LIST);
    badMagic[0]! ^= 1;
    expect(handshake([FIXED, badMagic], CATALOG).end?.kind).toBe("close");
    const many = Array.from({ length: MAX_OPTIONS + 1 }, () => option(OPT.STRUCTURED_REPLY));
    const r = handshake([FIXED, ...many], CATALOG);
    expect(r.end?.kind).toBe("close");
    expect(optionReplies(r.sent).replies.length).toBe(MAX_OPTIONS);
  });

  test("an option longer than the bound is skipped as it comes, never held, and refused with TOO_BIG", () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_OPTION_DATA + 1, max: 4 * MAX_OPTION_DATA }), fc.integer({ min: 1, max: 3000 }), (length, piece) => {
        const body = new Uint8Array(length);
        const chunks = [FIXED, option(OPT.GO, new Uint8Array(0), length)];
        for (let at = 0; at < length; at += piece) chunks.push(body.subarray(at, at + piece));
        chunks.push(go("vol0"));
        const r = handshake(chunks, CATALOG);
        expect(r.held).toBeLessThan(16 + 3000 + 32);
        expect(r.end?.kind).toBe("transmission");
        expect(optionReplies(r.sent).replies[0]).toMatchObject({ option: OPT.GO, type: REP.ERR_TOO_BIG });
      }),
      { numRuns: 30 },
    );
  });

  test("the same answers however the bytes are split", () => {
    const stream = concat([FIXED, option(OPT.LIST), go("nope"), option(OPT.STRUCTURED_REPLY), option(OPT.INFO, goData("ro", [INFO.NAME, INFO.BLOCK_SIZE])), go("", [INFO.DESCRIPTION])]);
    const whole = handshake([stream], CATALOG);
    fc.assert(
      fc.property(splits(stream), (chunks) => {
        const r = handshake(chunks, CATALOG);
        expect(r.sent).toEqual(whole.sent);
        expect(r.end).toEqual(whole.end);
      }),
    );
  });

  test("any options and bytes: never a throw, each step consumes within its input", () => {
    const opt = fc.oneof(
      fc.constantFrom(...Object.values(OPT)).chain((o) => fc.uint8Array({ maxLength: 40 }).map((d) => option(o, d))),
      fc.constantFrom("vol0", "ro", "", "x").chain((n) => fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }).map((i) => go(n, i))),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), fc.array(opt, { maxLength: 12 }), (flags, opts) => {
        handshake([clientFlags(flags), ...opts], CATALOG);
      }),
      { numRuns: 500 },
    );
  });
});

const session = (e: Export, structured = true): Session => ({ export: e, structured, flags: 0 });
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 21n }));

describe("requests", () => {
  test("a request carried out is a known command within the export, aligned, within the payload bound, and writes only where writable", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...EXPORTS),
        fc.boolean(),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 31 }),
        u64,
        fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.nat()),
        fc.uint8Array({ maxLength: 2048 }),
        (e, structured, type, flags, offset, length, tail) => {
          const input = concat([request(type, 7n, offset, length, flags), tail]);
          expectSound(readRequest(input, session(e, structured)), e, input);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("NBD's errors: unknown command and flags EINVAL, read past the end EINVAL, write past the end ENOSPC, read-only EPERM, oversized EOVERFLOW", () => {
    const [rw, ro] = EXPORTS as [Export, Export];
    const errno = (e: Export, b: Uint8Array, structured = true) => {
      const r = readRequest(b, session(e, structured));
      return r.kind === "refuse" ? r.errno : r.kind;
    };
    expect(errno(rw, request(9, 1n, 0, 0))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.BLOCK_STATUS, 1n, 0, 4096))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.READ, 1n, 0, 4096, CMD_FLAG.NO_HOLE))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.READ, 1n, 0, 4096, CMD_FLAG.DF), false)).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.READ, 1n, 0, 4096, CMD_FLAG.DF | CMD_FLAG.FUA))).toBe("request");
    expect(errno(rw, request(CMD.READ, 1n, (1 << 20) - 4095, 4096))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.READ, 1n, 2n ** 64n - 1n, 1))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.WRITE, 1n, (1 << 20) - 1, 2))).toBe(NBD_ERR.ENOSPC);
    expect(errno(rw, request(CMD.WRITE_ZEROES, 1n, 1 << 20, 1))).toBe(NBD_ERR.ENOSPC);
    expect(errno(rw, request(CMD.TRIM, 1n, 1 << 20, 1))).toBe(NBD_ERR.EINVAL);
    expect(errno(rw, request(CMD.WRITE, 1n, 0, DEFAULT_MAX_PAYLOAD + 1))).toBe(NBD_ERR.EOVERFLOW);
    expect(errno(rw, request(CMD.READ, 1n, 0, DEFAULT_MAX_PAYLOAD + 1))).toBe(NBD_ERR.EOVERFLOW);
    expect(errno(ro, request(CMD.WRITE, 1n, 0, 512))).toBe(NBD_ERR.EPERM);
    expect(errno(ro, request(CMD.TRIM, 1n, 0, 512))).toBe(NBD_ERR.EPERM);
    expect(errno(ro, request(CMD.WRITE_ZEROES, 1n, 0, 512))).toBe(NBD_ERR.EPERM);
    expect(errno(ro, request(CMD.READ, 1n, 100, 512))).toBe(NBD_ERR.EINVAL);
    expect(errno(ro, request(CMD.READ, 1n, 512, 512))).toBe("request");
    const bad = request(CMD.READ, 1n, 0, 512);
    bad[3]! ^= 0x10;
    expect(readRequest(bad, session(rw))).toEqual({ kind: "disconnect", reason: "bad request magic" });
  });
});
