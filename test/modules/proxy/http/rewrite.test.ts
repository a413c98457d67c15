import { describe, expect, test } from "bun:test";
import { parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from "../../../../modules/proxy/http/head.ts";
import { forwardedNode, forwardedValue, writeHead, writeRequestHead, writeResponseHead, writeResponseHeadInPlace, type ForwardEdits, type ReplyEdits } from "../../../../modules/proxy/http/rewrite.ts";
import { bytes, LIMITS } from "./wire.ts";

const req = (text: string): RequestHead => {
  const r = parseRequestHead(bytes(text), LIMITS);
  if (r.kind !== "head") throw new Error(JSON.stringify(r));
  return r.head;
};
const res = (text: string, method = "GET"): ResponseHead => {
  const r = parseResponseHead(bytes(text), LIMITS, method);
  if (r.kind !== "head") throw new Error(JSON.stringify(r));
  return r.head;
};
const PLAIN: ForwardEdits = { client: { address: "198.18.0.7", port: 40000 }, proto: "http", forwardedFor: false, forwarded: false };
const forward = (text: string, edits: Partial<ForwardEdits> = {}) => writeRequestHead(req(text), { ...PLAIN, ...edits }).toString("latin1");

describe("requests toward the server", () => {
  test("an HTTP/1.1 request without hop-by-hop fields goes as it came, byte for byte", () => {
    const text = "GET /a?b HTTP/1.1\r\nHost: a\r\nuser-agent: x\r\nAccept:*/*\r\n\r\n";
    expect(forward(text)).toBe(text);
  });

  test("hop-by-hop fields dropped: Connection and what it names, Keep-Alive, Proxy-Connection, TE (but trailers), Upgrade without an upgrade", () => {
    const out = forward("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nProxy-Connection: keep-alive\r\nTE: gzip, trailers\r\nUpgrade: h2c\r\nX-Kept: k\r\n\r\n");
    expect(out).toBe("GET / HTTP/1.1\r\nHost: a\r\nX-Kept: k\r\nTE: trailers\r\n\r\n");
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nTE: gzip\r\n\r\n")).toBe("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  });

  test("a Connection option cannot drop Host, Content-Length or Transfer-Encoding", () => {
    const out = forward("POST / HTTP/1.1\r\nHost: a\r\nConnection: host, content-length, transfer-encoding\r\nContent-Length: 2\r\n\r\n");
    expect(out).toBe("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n");
  });

  test("a folded repeated Content-Length goes once", () => {
    expect(forward("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX: y\r\nContent-Length: 2\r\n\r\n")).toBe("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX: y\r\n\r\n");
  });

  test("HTTP/1.0 keeps its version and asks for keep-alive", () => {
    expect(forward("GET / HTTP/1.0\r\nConnection: close\r\n\r\n")).toBe("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  });

  test("an upgrade keeps Upgrade and says Connection: upgrade", () => {
    const out = forward("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n");
    expect(out).toBe("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n");
  });

  test("an absolute-form target goes in origin-form with its authority as Host", () => {
    expect(forward("GET http://Example.org:81/p?q=1 HTTP/1.1\r\nHost: other\r\nX: y\r\n\r\n")).toBe("GET /p?q=1 HTTP/1.1\r\nX: y\r\nHost: example.org:81\r\n\r\n");
    expect(forward("GET http://example.org HTTP/1.0\r\n\r\n")).toBe("GET / HTTP/1.0\r\nHost: example.org\r\nConnection: keep-alive\r\n\r\n");
    expect(forward("GET http://example.org/p? HTTP/1.1\r\nHost: x\r\n\r\n")).toStartWith("GET /p? HTTP/1.1\r\n");
  });

  test("X-Forwarded-For and -Proto name each request's own client and protocol, requests of different clients taking turns", () => {
    const text = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (const [address, proto] of [["198.18.0.7", "http"], ["198.18.0.8", "http"], ["198.18.0.8", "https"], ["198.18.0.7", "http"]] as const) {
      expect(forward(text, { forwardedFor: true, client: { address, port: 1 }, proto })).toBe(`GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ${address}\r\nX-Forwarded-Proto: ${proto}\r\n\r\n`);
    }
  });

  test("X-Forwarded-For appended to the client's (merged into one field), X-Forwarded-Proto replaced", () => {
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n", { forwardedFor: true })).toBe("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.18.0.7\r\nX-Forwarded-Proto: http\r\n\r\n");
    const out = forward("GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.1\r\nHost: a\r\nx-forwarded-for: 203.0.113.2, 203.0.113.3\r\nX-Forwarded-Proto: https\r\n\r\n", { forwardedFor: true, proto: "https" });
    expect(out).toBe("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1, 203.0.113.2, 203.0.113.3, 198.18.0.7\r\nX-Forwarded-Proto: https\r\n\r\n");
  });

  test("Forwarded (RFC 7239): for= unquoted IPv4, quoted IPv6 in brackets, quoted with a port; proto; host; appended", () => {
    expect(forward("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", { forwarded: true })).toContain("\r\nForwarded: for=198.18.0.7;proto=http;host=a.example\r\n");
    expect(forward("GET / HTTP/1.1\r\nHost: a:8080\r\n\r\n", { forwarded: true, client: { address: "2001:db8::7", port: 5 } })).toContain('\r\nForwarded: for="[2001:db8::7]";proto=http;host="a:8080"\r\n');
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=192.0.2.60\r\n\r\n", { forwarded: true, forwardedPort: true })).toContain('\r\nForwarded: for=192.0.2.60, for="198.18.0.7:40000";proto=http;host=a\r\n');
    expect(forwardedNode("2001:db8::1", 4711)).toBe('"[2001:db8::1]:4711"');
    const mapped = forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n", { forwarded: true, forwardedFor: true, client: { address: "::ffff:198.18.0.9", port: 1 } });
    expect(mapped).toContain("\r\nX-Forwarded-For: 198.18.0.9\r\n");
    expect(mapped).toContain("\r\nForwarded: for=198.18.0.9;proto=http;host=a\r\n");
    expect(forwardedValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(forwardedValue("")).toBe('""');
  });

  test("added fields go last; the result parses back to the same request", () => {
    const text = "POST http://h.example/x?y HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n";
    const out = writeRequestHead(req(text), { ...PLAIN, forwardedFor: true, forwarded: true, add: [["X-Via", "tandem"]] });
    const back = parseRequestHead(out, LIMITS);
    if (back.kind !== "head") throw new Error(JSON.stringify(back));
    expect([back.head.method, back.head.path, back.head.query, back.head.host, back.head.body.kind, back.head.keepAlive]).toEqual(["POST", "/x", "y", "h.example", "chunked", true]);
    expect(back.head.headers.at(-1)).toEqual(["X-Via", "tandem"]);
  });
});

describe("the stickiness cookie taken out toward the server (indirect)", () => {
  test("the other cookies go exactly as sent, the Cookie field after the others", () => {
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; SRV=abc; b=\"x y\"\r\nX: y\r\n\r\n", { dropCookie: "SRV" })).toBe('GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nCookie: a=1; b="x y"\r\n\r\n');
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nCookie: SRV=abc;a=1;b=2\r\n\r\n", { dropCookie: "SRV" })).toBe("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1;b=2\r\n\r\n");
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1 ;  SRV = abc\r\n\r\n", { dropCookie: "SRV" })).toBe("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1 \r\n\r\n");
  });

  test("a Cookie field that held only it is dropped; several Cookie fields keep their order", () => {
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\nCookie: SRV=abc\r\nX: y\r\n\r\n", { dropCookie: "SRV" })).toBe("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n");
    expect(forward("GET / HTTP/1.1\r\nHost: a\r\ncookie: a=1\r\nX: y\r\nCookie: SRV=abc; b=2\r\nCookie: c=3\r\n\r\n", { dropCookie: "SRV" })).toBe("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nCookie: a=1\r\nCookie: b=2\r\nCookie: c=3\r\n\r\n");
  });

  test("without it (or with a cookie whose name only starts alike) the head goes byte for byte", () => {
    const text = "GET / HTTP/1.1\r\nHost: a\r\nCookie: SRVX=1; xSRV=2; a=SRV\r\nX: y\r\n\r\n";
    expect(forward(text, { dropCookie: "SRV" })).toBe(text);
  });
});

describe("responses toward the client", () => {
  test("nocache: Cache-Control: private added with the inserted cookie, unless a Cache-Control already keeps shared caches out", () => {
    const out = (text: string) => writeResponseHead(res(text), { keepAlive: true, clientVersion: "1.1", add: [["Set-Cookie", "SRV=s1; Path=/"]], uncacheable: true }).toString("latin1");
    expect(out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).toBe("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nSet-Cookie: SRV=s1; Path=/\r\nCache-Control: private\r\n\r\n");
    // A cacheable answer gets it too (HAProxy adds the field beside the server's): max-age with private is for the client alone.
    expect(out("HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nContent-Length: 0\r\n\r\n")).toBe("HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nContent-Length: 0\r\nSet-Cookie: SRV=s1; Path=/\r\nCache-Control: private\r\n\r\n");
    for (const cc of ["no-cache", "max-age=0, No-Store", "private=\"x\""]) {
      const text = `HTTP/1.1 200 OK\r\nCache-Control: ${cc}\r\nContent-Length: 0\r\n\r\n`;
      expect(out(text)).toBe(`HTTP/1.1 200 OK\r\nCache-Control: ${cc}\r\nContent-Length: 0\r\nSet-Cookie: SRV=s1; Path=/\r\n\r\n`);
    }
  });

  test("the server's own Set-Cookie of the stickiness cookie is dropped, its other cookies kept", () => {
    const h = res("HTTP/1.1 200 OK\r\nSet-Cookie: SRV=mine; Path=/\r\nSet-Cookie: session=1\r\nContent-Length: 0\r\n\r\n");
    expect(writeResponseHead(h, { keepAlive: true, clientVersion: "1.1", dropSetCookie: "SRV" }).toString("latin1")).toBe("HTTP/1.1 200 OK\r\nSet-Cookie: session=1\r\nContent-Length: 0\r\n\r\n");
  });


  test("kept alive for an HTTP/1.1 client: as it came, less hop-by-hop fields", () => {
    expect(writeResponseHead(res("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"), { keepAlive: true, clientVersion: "1.1" }).toString("latin1")).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
  });

  test("Connection: keep-alive for an HTTP/1.0 client, close when the connection ends; an HTTP/1.0 status line becomes HTTP/1.1", () => {
    const h = res("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    expect(writeResponseHead(h, { keepAlive: true, clientVersion: "1.0" }).toString("latin1")).toBe("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
    expect(writeResponseHead(h, { keepAlive: false, clientVersion: "1.1", add: [["Set-Cookie", "SRV=s1; path=/"]] }).toString("latin1")).toBe("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\nSet-Cookie: SRV=s1; path=/\r\n\r\n");
  });

  test("101 keeps Upgrade and says Connection: upgrade", () => {
    const h = res("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n");
    expect(writeResponseHead(h, { keepAlive: false, clientVersion: "1.1" }).toString("latin1")).toBe("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a\r\nConnection: upgrade\r\n\r\n");
  });

  test("written over the server's head: the same bytes, ending where it ended, the body after it untouched; refused (raw as it was) when it does not fit", () => {
    const body = "hello, world\n";
    const cases: Array<[string, ReplyEdits, boolean]> = [
      // nginx's answer to a keep-alive client: Connection dropped, nothing added.
      [`HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 13\r\nConnection: keep-alive\r\nETag: "x"\r\n\r\n`, { keepAlive: true, clientVersion: "1.1" }, true],
      // Close added at the end, Keep-Alive and Connection dropped in the middle: the lines after them move back.
      ["HTTP/1.1 200 OK\r\nA: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nB: 2\r\nContent-Length: 13\r\n\r\n", { keepAlive: false, clientVersion: "1.1" }, true],
      // A status line rewritten from HTTP/1.0 and a line dropped before it is needed.
      ["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\n", { keepAlive: true, clientVersion: "1.0" }, true],
      // Nothing dropped and a line added: larger than the head.
      ["HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n", { keepAlive: false, clientVersion: "1.1" }, false],
      // Lines dropped early, a cookie and Cache-Control added: the first lines move on, the last ones back.
      ["HTTP/1.1 200 OK\r\nConnection: keep-alive, x-long-option-name\r\nX-Long-Option-Name: 1234567890\r\nServer: s\r\nContent-Length: 13\r\nETag: e\r\n\r\n", { keepAlive: true, clientVersion: "1.1", add: [["Set-Cookie", "SRV=abcdef; Path=/"]], uncacheable: true }, true],
      // A line added and only a short one dropped: larger than the head.
      ["HTTP/1.1 200 OK\r\nTE: x\r\nContent-Length: 13\r\n\r\n", { keepAlive: true, clientVersion: "1.1", add: [["Set-Cookie", "SRV=abcdef; Path=/"]] }, false],
    ];
    for (const [text, edits, fits] of cases) {
      const expected = writeResponseHead(res(text + body), edits).toString("latin1");
      const h = res(text + body);
      const before = h.raw.toString("latin1");
      const at = writeResponseHeadInPlace(h, edits);
      if (!fits) {
        expect(at).toBe(-1);
        expect(h.raw.toString("latin1")).toBe(before);
        continue;
      }
      expect(h.raw.toString("latin1", at, h.headBytes)).toBe(expected);
      expect(h.raw.toString("latin1", h.headBytes)).toBe(body);
    }
  });

  test("the proxy's own heads", () => {
    expect(writeHead(400, "Bad Request", [["Content-Length", "0"], ["Connection", "close"]]).toString("latin1")).toBe("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
});
