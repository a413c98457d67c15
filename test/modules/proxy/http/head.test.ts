import { describe, expect, test } from "bun:test";
import { parseRequestHead, parseResponseHead, type RequestHead, type RequestStatus, type ResponseHead } from "../../../../modules/proxy/http/head.ts";
import { bytes, comparable, LIMITS, parseInPieces, parseRequest } from "./wire.ts";

function request(text: string, limits = LIMITS): RequestHead {
  const r = parseRequestHead(bytes(text), limits);
  if (r.kind !== "head") throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r.head;
}

function refusal(text: string, limits = LIMITS) {
  const r = parseRequestHead(bytes(text), limits);
  if (r.kind !== "error") throw new Error(`expected a refusal, got ${r.kind} for ${JSON.stringify(text)}`);
  expect(r.reason.length).toBeGreaterThan(0);
  return r.status;
}

function response(text: string, method = "GET"): ResponseHead {
  const r = parseResponseHead(bytes(text), LIMITS, method);
  if (r.kind !== "head") throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r.head;
}

const GET = "GET /a/b?x=1&y HTTP/1.1\r\nHost: Example.COM:8080\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";

describe("request heads", () => {
  test("a GET: method, target, path, query, version, fields in order as sent, host in lower case, no body, its length", () => {
    const h = request(`${GET}NEXT`);
    expect(h.method).toBe("GET");
    expect(h.target).toBe("/a/b?x=1&y");
    expect([h.path, h.query, h.version]).toEqual(["/a/b", "x=1&y", "1.1"]);
    expect(h.headers).toEqual([
      ["Host", "Example.COM:8080"],
      ["User-Agent", "t"],
      ["Accept", "*/*"],
    ]);
    expect(h.host).toBe("example.com:8080");
    expect(h.keepAlive).toBe(true);
    expect(h.body).toEqual({ kind: "none" });
    expect(h.headBytes).toBe(GET.length);
    expect(h.upgrade).toBeUndefined();
    expect(h.expectContinue).toBe(false);
  });

  test("incomplete until the final CRLF, whatever the cut", () => {
    for (let k = 0; k < GET.length; k++) expect(parseRequest(bytes(GET.slice(0, k))).kind).toBe("incomplete");
  });

  test("field values lose the white space around them, keep the inside; obs-text is taken (latin1)", () => {
    const h = request("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a  b \t\r\nX-B:\r\nX-C: caf\xe9\r\n\r\n");
    expect(h.headers.slice(1)).toEqual([
      ["X-A", "a  b"],
      ["X-B", ""],
      ["X-C", "caf\xe9"],
    ]);
  });

  test("keep-alive by version and Connection", () => {
    expect(request("GET / HTTP/1.1\r\nHost: a\r\n\r\n").keepAlive).toBe(true);
    expect(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").keepAlive).toBe(false);
    expect(request("GET / HTTP/1.0\r\n\r\n").keepAlive).toBe(false);
    expect(request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive).toBe(true);
    expect(request("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keepAlive).toBe(false);
  });

  test("body framing: none, a length, chunked (any case, white space around)", () => {
    expect(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body).toEqual({ kind: "none" });
    expect(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n").body).toEqual({ kind: "length", length: 12 });
    expect(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999\r\n\r\n").body).toEqual({ kind: "length", length: 999999999999999 });
    expect(request("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n").body).toEqual({ kind: "chunked" });
  });

  test("identical repeated Content-Length fields are folded into one (RFC 9110 §8.6)", () => {
    expect(request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").body).toEqual({ kind: "length", length: 5 });
  });

  test("upgrade (websocket) only with Connection: upgrade on HTTP/1.1; Expect: 100-continue", () => {
    const ws = request("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n");
    expect(ws.upgrade).toBe("websocket");
    expect(ws.connection).toEqual(["keep-alive", "upgrade"]);
    expect(request("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade).toBeUndefined();
    expect(request("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n").upgrade).toBeUndefined();
    expect(request("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n").expectContinue).toBe(true);
    expect(request("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").expectContinue).toBe(false);
  });

  test("an absolute-form target is taken: its host wins over Host, its path and query are the request's", () => {
    const h = request("GET HTTP://Example.org:8080/p/q?z=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    expect([h.host, h.path, h.query, h.absolute]).toEqual(["example.org:8080", "/p/q", "z=1", true]);
    expect(request("GET http://example.org HTTP/1.0\r\n\r\n").path).toBe("/");
    expect(request("GET https://example.org?q HTTP/1.1\r\nHost: example.org\r\n\r\n")).toMatchObject({ path: "/", query: "q" });
  });

  test("OPTIONS * and CONNECT host:port", () => {
    expect(request("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path).toBe("*");
    expect(request("CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n")).toMatchObject({ path: "", host: "db.example:5432" });
  });

  test("empty lines before the request line are skipped (RFC 9112 §2.2) and counted in headBytes", () => {
    const h = request(`\r\n\r\n${GET}`);
    expect(h.headBytes).toBe(GET.length + 4);
    expect(h.method).toBe("GET");
  });

  test("HTTP/1.0 without Host is taken: host undefined", () => {
    expect(request("GET / HTTP/1.0\r\n\r\n").host).toBeUndefined();
  });

  test("pipelined requests: each parse starts where the last head and its body ended", () => {
    const a = "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    const b = "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
    const c = "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const all = bytes(`${a}hello${b}${c}`);
    const one = request(`${a}hello${b}${c}`);
    expect([one.path, one.headBytes]).toEqual(["/one", a.length]);
    const rest = all.subarray(a.length + 5);
    const two = parseRequestHead(rest, LIMITS);
    if (two.kind !== "head") throw new Error("two");
    expect(two.head.path).toBe("/two");
    const three = parseRequestHead(rest.subarray(two.head.headBytes), LIMITS);
    expect(three.kind === "head" && [three.head.path, three.head.keepAlive, three.head.headBytes]).toEqual(["/three", false, c.length]);
  });
});

/** Each refused with its status; the connection is closed after any refusal. */
const SMUGGLING: [string, RequestStatus, string][] = [
  ["both Content-Length and Transfer-Encoding", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["both, Transfer-Encoding first", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"],
  ["two differing Content-Lengths", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"],
  ["a Content-Length list, even of equal values", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"],
  ["a signed Content-Length", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"],
  ["a negative Content-Length", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"],
  ["a space inside Content-Length", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n"],
  ["a hex Content-Length", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"],
  ["an empty Content-Length", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"],
  ["a Content-Length of 16 digits", 400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000\r\n\r\n"],
  ["a Transfer-Encoding whose last coding is not chunked", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"],
  ["a Transfer-Encoding without chunked", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"],
  ["chunked twice in one field", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"],
  ["chunked twice in two fields", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["a misspelt chunked", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"],
  ["Transfer-Encoding in HTTP/1.0", 400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["a coding other than chunked before it", 501, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"],
  ["obsolete line folding", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"],
  ["obsolete line folding with a tab", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"],
  ["folding right after the request line", 400, "GET / HTTP/1.1\r\n Host: a\r\n\r\n"],
  ["a space between a field name and its colon", 400, "GET / HTTP/1.1\r\nHost : a\r\n\r\n"],
  ["a tab between a field name and its colon", 400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"],
  ["a bare CR in a value", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n"],
  ["a bare CR ending a line", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\rX-B: c\r\n\r\n"],
  ["a bare LF ending a field line", 400, "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n"],
  ["a bare LF ending the request line", 400, "GET / HTTP/1.1\nHost: a\r\n\r\n"],
  ["bare LFs only", 400, "GET / HTTP/1.1\nHost: a\n\n"],
  ["a NUL in a value", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n"],
  ["a control byte in a value", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\n\r\n"],
  ["DEL in a value", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n"],
  ["a separator in a field name", 400, "GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n"],
  ["a non-ASCII field name", 400, "GET / HTTP/1.1\r\nHost: a\r\nX\xe9: b\r\n\r\n"],
  ["an empty field name", 400, "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"],
  ["a field line without a colon", 400, "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n"],
  ["a separator in the method", 400, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["no method", 400, " / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["two spaces after the method", 400, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a control byte in the target", 400, "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a non-ASCII target", 400, "GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a fragment in the target", 400, "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["a target neither path nor http URI", 400, "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["userinfo in an absolute target", 400, "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["an absolute target without a host", 400, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["the asterisk-form with GET", 400, "GET * HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["no Host in HTTP/1.1", 400, "GET / HTTP/1.1\r\nX-A: b\r\n\r\n"],
  ["two Host fields", 400, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  ["a Host with a slash", 400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"],
  ["a Host with userinfo", 400, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"],
  ["a lower-case version", 400, "GET / http/1.1\r\nHost: a\r\n\r\n"],
  ["bytes after the version", 400, "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n"],
  ["HTTP/0.9 style (no version)", 400, "GET /\r\n\r\n"],
  ["HTTP/2.0", 505, "GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
  ["HTTP/1.2", 505, "GET / HTTP/1.2\r\nHost: a\r\n\r\n"],
  ["HTTP/0.9", 505, "GET / HTTP/0.9\r\nHost: a\r\n\r\n"],
];

describe("refusals (request smuggling and malformed heads)", () => {
  for (const [what, status, text] of SMUGGLING) {
    test(`${what}: ${status}`, () => {
      expect(refusal(text)).toBe(status);
    });
  }

  test("more fields than max_headers: 431; exactly max_headers: taken", () => {
    const limits = { maxHeaderBytes: 16_384, maxHeaders: 8 };
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
    expect(request(`GET / HTTP/1.1\r\nHost: a\r\n${fields(7)}\r\n`, limits).headers.length).toBe(8);
    expect(refusal(`GET / HTTP/1.1\r\nHost: a\r\n${fields(8)}\r\n`, limits)).toBe(431);
    // Refused as soon as the lines show it, before the head ends.
    expect(refusal(`GET / HTTP/1.1\r\nHost: a\r\n${fields(8)}`, limits)).toBe(431);
  });

  test("a head over max_header_bytes: 431 (even before it ends); a request line alone over it: 414; at the limit: taken", () => {
    const limits = { maxHeaderBytes: 1024, maxHeaders: 100 };
    const pad = (n: number) => `GET / HTTP/1.1\r\nHost: a\r\nX-P: ${"p".repeat(n)}\r\n\r\n`;
    const exact = pad(1024 - pad(0).length);
    expect(exact.length).toBe(1024);
    expect(request(exact, limits).headBytes).toBe(1024);
    expect(refusal(pad(1025 - pad(0).length), limits)).toBe(431);
    expect(refusal(`GET / HTTP/1.1\r\nHost: a\r\nX-P: ${"p".repeat(2000)}`, limits)).toBe(431);
    expect(refusal(`GET /${"a".repeat(2000)}`, limits)).toBe(414);
  });
});

describe("pieces at every split point give the same answer", () => {
  const cases = [GET, "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ...SMUGGLING.map(([, , text]) => text)];
  test("one cut anywhere, and byte by byte", () => {
    for (const text of cases) {
      const input = bytes(text);
      const whole = comparable(parseRequest(input));
      for (let k = 0; k <= input.length; k++) expect(comparable(parseInPieces(input, [k], parseRequest))).toEqual(whole);
      expect(comparable(parseInPieces(input, Array.from({ length: input.length }, (_, i) => i), parseRequest))).toEqual(whole);
    }
  });
});

describe("response heads", () => {
  test("a 200 with a length, keep-alive", () => {
    const h = response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\nabc");
    expect([h.version, h.status, h.reason, h.keepAlive, h.headBytes]).toEqual(["1.1", 200, "OK", true, 49]);
    expect(h.body).toEqual({ kind: "length", length: 3 });
    expect(h.headers).toEqual([
      ["Content-Length", "3"],
      ["Server", "s"],
    ]);
  });

  test("framing by RFC 9112 §6.3: HEAD, 1xx, 204, 304 have none; chunked; a length; otherwise until close (and not kept alive)", () => {
    expect(response("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", "HEAD").body).toEqual({ kind: "none" });
    expect(response("HTTP/1.1 100 Continue\r\n\r\n").body).toEqual({ kind: "none" });
    expect(response("HTTP/1.1 204 No Content\r\n\r\n").body).toEqual({ kind: "none" });
    expect(response("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n").body).toEqual({ kind: "none" });
    expect(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").body).toEqual({ kind: "chunked" });
    expect(response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").body).toEqual({ kind: "none" });
    const close = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
    expect([close.body.kind, close.keepAlive]).toEqual(["close", false]);
    expect(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").body).toEqual({ kind: "close" });
  });

  test("keep-alive by version and Connection; 101 and a CONNECT's 2xx switch to a tunnel", () => {
    expect(response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n").keepAlive).toBe(false);
    expect(response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n").keepAlive).toBe(true);
    expect(response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    const ws = response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    expect([ws.upgrade, ws.body.kind, ws.keepAlive]).toEqual(["websocket", "none", false]);
    expect(response("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT").upgrade).toBe("tunnel");
  });

  test("an empty reason, with or without its space", () => {
    expect(response("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n").reason).toBe("");
    expect(response("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").reason).toBe("");
  });

  const BAD: [string, string][] = [
    ["both framings", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["differing lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"],
    ["a bad length", "HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\n"],
    ["chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"],
    ["chunked not last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"],
    ["Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["obsolete folding", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\n\r\n"],
    ["a bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"],
    ["a two-digit status", "HTTP/1.1 20 OK\r\n\r\n"],
    ["a status below 100", "HTTP/1.1 099 OK\r\n\r\n"],
    ["no space after the status", "HTTP/1.1 200OK\r\n\r\n"],
    ["a control byte in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n"],
    ["HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"],
    ["101 without Upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n"],
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n"],
  ];
  for (const [what, text] of BAD) {
    test(`${what}: 502`, () => {
      const r = parseResponseHead(bytes(text), LIMITS, "GET");
      expect(r.kind === "error" && r.status).toBe(502);
    });
  }

  test("a response head over the limits: 502", () => {
    const r = parseResponseHead(bytes(`HTTP/1.1 200 OK\r\nX-P: ${"p".repeat(2000)}`), { maxHeaderBytes: 1024, maxHeaders: 100 }, "GET");
    expect(r.kind === "error" && r.status).toBe(502);
  });
});
