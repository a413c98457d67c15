import { describe, expect, test } from "bun:test";
import { BodyFramer, MAX_CHUNK_LINE } from "../../../../modules/proxy/http/body.ts";
import type { BodyFraming } from "../../../../modules/proxy/http/head.ts";
import { bytes } from "./wire.ts";

/** Feeds `input` in pieces cut at `cuts` (each piece once, as a socket delivers it): the bytes the body took, done, error. */
function feedPieces(framing: BodyFraming, input: Uint8Array, cuts: number[], maxTrailerBytes?: number) {
  const f = new BodyFramer(framing, maxTrailerBytes);
  let used = 0;
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    const piece = input.subarray(from, cut);
    from = cut;
    const n = f.feed(piece);
    expect(n).toBeGreaterThanOrEqual(0);
    expect(n).toBeLessThanOrEqual(piece.length);
    used += n;
    if (f.done || f.error) break;
  }
  return { used, done: f.done, error: f.error };
}

const CHUNKED: BodyFraming = { kind: "chunked" };
const BODY = "5\r\nhello\r\n1A;name=value;q=\"x y\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0 ;last\r\nX-Sum: 9\r\nX-B: \r\n\r\n";

describe("length and none", () => {
  test("a length: takes exactly its bytes over any pieces, the rest is the next message's", () => {
    const input = bytes("helloNEXT");
    for (let k = 0; k <= input.length; k++) expect(feedPieces({ kind: "length", length: 5 }, input, [k])).toEqual({ used: 5, done: true, error: undefined });
  });

  test("feed from an offset: the body starts after the head in the same bytes", () => {
    const f = new BodyFramer({ kind: "length", length: 3 });
    expect(f.feed(bytes("HEADabcX"), 4)).toBe(3);
    expect(f.done).toBe(true);
  });

  test("none is done at once and takes nothing; until close takes everything and never ends", () => {
    const none = new BodyFramer({ kind: "none" });
    expect([none.done, none.feed(bytes("abc"))]).toEqual([true, 0]);
    const close = new BodyFramer({ kind: "close" });
    expect([close.feed(bytes("abc")), close.feed(bytes("de")), close.done]).toEqual([3, 2, false]);
  });
});

describe("chunked", () => {
  test("sizes in hex, extensions, trailers, the final CRLF: the whole body, then stops before the next message", () => {
    expect(feedPieces(CHUNKED, bytes(`${BODY}GET /`), [])).toEqual({ used: BODY.length, done: true, error: undefined });
  });

  test("split anywhere, in two and in three pieces and byte by byte: the same", () => {
    const input = bytes(`${BODY}GET /`);
    const expected = { used: BODY.length, done: true, error: undefined };
    for (let a = 0; a <= input.length; a++) {
      expect(feedPieces(CHUNKED, input, [a])).toEqual(expected);
      for (let b = a; b <= input.length; b += 7) expect(feedPieces(CHUNKED, input, [a, b])).toEqual(expected);
    }
    expect(feedPieces(CHUNKED, input, Array.from({ length: input.length }, (_, i) => i))).toEqual(expected);
  });

  test("incomplete until the final CRLF", () => {
    for (let k = 0; k < BODY.length; k++) expect(feedPieces(CHUNKED, bytes(BODY.slice(0, k)), [])).toEqual({ used: k, done: false, error: undefined });
  });

  test("large sizes are counted, not buffered", () => {
    const f = new BodyFramer(CHUNKED);
    f.feed(bytes("100000\r\n"));
    const data = new Uint8Array(0x100000);
    expect(f.feed(data)).toBe(data.length);
    expect(f.feed(bytes("\r\n0\r\n\r\n"))).toBe(7);
    expect(f.done).toBe(true);
  });

  const BAD: [string, string][] = [
    ["a size that is not hex", "zz\r\n"],
    ["an empty size", "\r\n"],
    ["a signed size", "+5\r\nhello\r\n0\r\n\r\n"],
    ["a size past 2^53", "20000000000000\r\n"],
    ["a size of twenty digits", "00000000000000000001\r\nx\r\n0\r\n\r\n"],
    ["white space inside the size", "1 0\r\n"],
    ["white space after the size without an extension", "5 \r\nhello\r\n0\r\n\r\n"],
    ["a bare LF after the size", "5\nhello\r\n0\r\n\r\n"],
    ["a bare CR after the size", "5\rhello\r\n0\r\n\r\n"],
    ["data longer than its size", "5\r\nhello!\r\n0\r\n\r\n"],
    ["data without its CRLF", "5\r\nhello0\r\n\r\n"],
    ["a control byte in an extension", "5;a=\x01\r\nhello\r\n0\r\n\r\n"],
    ["a bare LF in an extension", "5;a\nhello\r\n0\r\n\r\n"],
    ["obsolete folding in the trailer", "0\r\nX-A: b\r\n c\r\n\r\n"],
    ["white space before a trailer's colon", "0\r\nX-A : b\r\n\r\n"],
    ["a trailer line without a colon", "0\r\nX-A\r\n\r\n"],
    ["a control byte in a trailer value", "0\r\nX-A: \x00\r\n\r\n"],
    ["a bare LF in the trailer", "0\r\nX-A: b\n\r\n"],
    ["a bare CR at the end", "0\r\n\rX"],
  ];
  for (const [what, text] of BAD) {
    test(`${what}: an error, whatever the pieces`, () => {
      const input = bytes(text);
      for (let k = 0; k <= input.length; k++) {
        const r = feedPieces(CHUNKED, input, [k]);
        expect(r.done).toBe(false);
        expect(typeof r.error).toBe("string");
      }
    });
  }

  test("a chunk-size line longer than MAX_CHUNK_LINE: an error", () => {
    expect(feedPieces(CHUNKED, bytes(`5;${"e".repeat(MAX_CHUNK_LINE)}\r\nhello\r\n0\r\n\r\n`), []).error).toContain("longer than");
    expect(feedPieces(CHUNKED, bytes(`5;${"e".repeat(MAX_CHUNK_LINE - 10)}\r\nhello\r\n0\r\n\r\n`), []).done).toBe(true);
  });

  test("a trailer over its bound: an error", () => {
    expect(feedPieces(CHUNKED, bytes(`0\r\nX-A: ${"t".repeat(200)}\r\n\r\n`), [], 100).error).toContain("trailer larger");
    expect(feedPieces(CHUNKED, bytes(`0\r\nX-A: ${"t".repeat(50)}\r\n\r\n`), [], 100).done).toBe(true);
  });

  test("after an error or the end, more bytes are not taken", () => {
    const f = new BodyFramer(CHUNKED);
    f.feed(bytes("0\r\n\r\n"));
    expect(f.feed(bytes("0\r\n\r\n"))).toBe(0);
    const g = new BodyFramer(CHUNKED);
    g.feed(bytes("x"));
    expect(g.feed(bytes("0\r\n\r\n"))).toBe(0);
  });
});
