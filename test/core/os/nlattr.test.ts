import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { decodeNlas, encodeNlas, nlaBe16, nlaBytes, nlaMap, nlaNested, nlaString, nlaU16, nlaU32, nlaU64, nlaU8, readBe16, readString, readU16, readU32, readU64, readU8, type Nla, type RawNla } from "../../../core/os/nlattr.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** An attribute list of up to three levels, types 1 to 0x3fff, payloads up to 40 bytes. */
const nla: fc.Arbitrary<Nla> = fc.letrec<{ attr: Nla }>((tie) => ({
  attr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ type: fc.integer({ min: 1, max: 0x3fff }), value: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ type: fc.integer({ min: 1, max: 0x3fff }), nested: fc.array(tie("attr"), { maxLength: 4 }) }),
  ),
})).attr;

/** `raw` decoded all the way down, in the shape it was encoded from. */
function deep(raw: RawNla[]): Nla[] {
  return raw.map((a) => (a.nested ? { type: a.type, nested: deep(decodeNlas(a.value).attrs) } : { type: a.type, value: new Uint8Array(a.value) }));
}

describe("core/os/nlattr", () => {
  test("scalars, ports and strings: header, payload, padding to 4 bytes", () => {
    expect(hex(encodeNlas([nlaU8(1, 0xab)]))).toBe("05000100" + "ab000000");
    expect(hex(encodeNlas([nlaU16(2, 0x0a0b)]))).toBe("06000200" + "0b0a0000");
    expect(hex(encodeNlas([nlaU32(3, 0x01020304)]))).toBe("08000300" + "04030201");
    expect(hex(encodeNlas([nlaU64(4, 0x0102030405060708n)]))).toBe("0c000400" + "0807060504030201");
    expect(hex(encodeNlas([nlaBe16(5, 8080)]))).toBe("06000500" + "1f900000");
    expect(hex(encodeNlas([nlaString(6, "wlc")]))).toBe("08000600" + "776c6300");
    expect(hex(encodeNlas([nlaBytes(7, new Uint8Array([198, 18, 0, 10]))]))).toBe("08000700" + "c612000a");
    // nested: the flag NLA_F_NESTED (0x8000) on the type, the length covering the padded children
    expect(hex(encodeNlas([nlaNested(1, [nlaU8(2, 1), nlaU16(3, 2)])]))).toBe("14000180" + "0500020001000000" + "0600030002000000");
  });

  test("readers give the value back, and undefined for an absent or wrong-sized payload", () => {
    const m = nlaMap(decodeNlas(encodeNlas([nlaU8(1, 7), nlaU16(2, 65535), nlaU32(3, 0xffffffff), nlaU64(4, 2n ** 64n - 1n), nlaBe16(5, 443), nlaString(6, "mh")])).attrs);
    expect([readU8(m.get(1)), readU16(m.get(2)), readU32(m.get(3)), readU64(m.get(4)), readBe16(m.get(5)), readString(m.get(6))]).toEqual([7, 65535, 0xffffffff, 2n ** 64n - 1n, 443, "mh"]);
    expect(readU32(m.get(2))).toBeUndefined();
    expect(readU16(m.get(9))).toBeUndefined();
  });

  test("encoding refuses values out of range and types over 14 bits", () => {
    expect(() => nlaU8(1, 256)).toThrow(RangeError);
    expect(() => nlaU16(1, -1)).toThrow(RangeError);
    expect(() => nlaBe16(1, 65536)).toThrow(RangeError);
    expect(() => nlaU32(1, 1.5)).toThrow(RangeError);
    expect(() => encodeNlas([nlaU8(0x4000, 1)])).toThrow(RangeError);
    expect(() => encodeNlas([nlaBytes(1, new Uint8Array(0x10000))])).toThrow(RangeError);
  });

  test("malformed lists keep what came before and say where they stopped", () => {
    const good = encodeNlas([nlaU32(1, 1)]);
    expect(decodeNlas(new Uint8Array([...good, 1, 2]))).toMatchObject({ attrs: [{ type: 1 }], error: "2 stray bytes at 8" });
    expect(decodeNlas(new Uint8Array([...good, 0xff, 0, 2, 0]))).toMatchObject({ attrs: [{ type: 1 }], error: "attribute 2 at 8: length 255 does not fit 4 bytes" });
    expect(decodeNlas(new Uint8Array([2, 0, 1, 0]))).toEqual({ attrs: [], error: "attribute 1 at 0: length 2 does not fit 4 bytes" });
    expect(decodeNlas(encodeNlas([nlaU8(1, 1), nlaU8(2, 2)]), 1).error).toBe("more than 1 attributes");
    // the last attribute's padding may be missing
    expect(decodeNlas(new Uint8Array([5, 0, 1, 0, 9]))).toEqual({ attrs: [{ type: 1, nested: false, value: new Uint8Array([9]) }] });
  });

  test("property: decode(encode(list)) is the list, nested levels included", () => {
    fc.assert(
      fc.property(fc.array(nla, { maxLength: 6 }), (list) => {
        const decoded = decodeNlas(encodeNlas(list));
        expect(decoded.error).toBeUndefined();
        expect(deep(decoded.attrs)).toEqual(list.map(function norm(a): Nla {
          return "nested" in a ? { type: a.type, nested: a.nested.map(norm) } : { type: a.type, value: new Uint8Array(a.value) };
        }));
      }),
    );
  });

  test("property: garbage never throws, and what is decoded lies within the input", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const d = decodeNlas(bytes);
        for (const a of d.attrs) {
          expect(a.value.byteOffset + a.value.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length);
          const readers = [readU8, readU16, readU32, readU64, readBe16, readString];
          for (const r of readers) r(a.value);
          if (a.nested) decodeNlas(a.value);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
