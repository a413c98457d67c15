/**
 * The checkers against real servers started here on 127.0.0.1: TCP
 * listeners (one whose accept queue is full, so a connect hangs), HTTP
 * servers (Bun.serve, and raw ones that answer garbage or nothing), an
 * HTTPS server with a self-signed certificate made by openssl that records
 * the server name the client sent, commands, and a small UDP DNS responder.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { dlopen } from "bun:ffi";
import fc from "fast-check";
import { Value } from "@sinclair/typebox/value";
import { CheckSchema, ServiceSchema, type CheckRaw, type ServiceRaw } from "../../../modules/checks/config.ts";
import { CHECKERS, runCheck, targetOf } from "../../../modules/checks/checkers.ts";
import type { CheckFn, CheckOutcome } from "../../../modules/checks/target.ts";
import { DNS_TYPES, encodeQuery, readResponse } from "../../../modules/checks/dns.ts";
import { HTTP_BODY_LIMIT, HTTP_HEAD_LIMIT, ResponseReader, parseStatusRanges } from "../../../modules/checks/http.ts";
import { REGEX_DEADLINE_MS } from "../../../modules/checks/regex.ts";
import { freePort, liveInGroup, tempDir, waitFor } from "../../helpers.ts";

const LOCAL = "127.0.0.1";

function check(over: Partial<CheckRaw>): CheckRaw {
  return Value.Default(CheckSchema, { timeout: "2s", ...over }) as CheckRaw;
}

function run(port: number | null, over: Partial<CheckRaw>, signal = new AbortController().signal): Promise<CheckOutcome> {
  return runCheck({ address: LOCAL, port }, check(over), signal);
}

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir("checks");
});
afterAll(() => tmp.cleanup());

/** A listening socket that never accepts, its queue already full: a connect to it gets no answer. */
async function fullListener(): Promise<{ port: number; close: () => void }> {
  const libc = dlopen("libc.so.6", {
    socket: { args: ["i32", "i32", "i32"], returns: "i32" },
    bind: { args: ["i32", "buffer", "u32"], returns: "i32" },
    listen: { args: ["i32", "i32"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
  }).symbols;
  const port = await freePort();
  const fd = libc.socket(2, 1, 0);
  const sockaddr = new Uint8Array(16);
  new DataView(sockaddr.buffer).setUint16(0, 2, true);
  new DataView(sockaddr.buffer).setUint16(2, port);
  sockaddr.set([127, 0, 0, 1], 4);
  expect(libc.bind(fd, sockaddr, 16)).toBe(0);
  expect(libc.listen(fd, 0)).toBe(0);
  // With a backlog of 0 the accept queue holds one connection; this one fills it.
  const filler = await Bun.connect({ hostname: LOCAL, port, socket: { data() {} } });
  return {
    port,
    close: () => {
      filler.terminate();
      libc.close(fd);
    },
  };
}

describe("tcp", () => {
  test("a listener: connected", async () => {
    const server = Bun.listen({ hostname: LOCAL, port: 0, socket: { data() {} } });
    try {
      expect(await run(server.port, { kind: "tcp" })).toEqual({ ok: true, message: "connected" });
    } finally {
      server.stop(true);
    }
  });

  test("nothing listening: refused", async () => {
    expect(await run(await freePort(), { kind: "tcp" })).toEqual({ ok: false, message: "connect: ECONNREFUSED" });
  });

  test("a listener that never accepts: no answer within the timeout", async () => {
    const full = await fullListener();
    try {
      const started = performance.now();
      expect(await run(full.port, { kind: "tcp", timeout: "300ms" })).toEqual({ ok: false, message: "no answer within 300 ms" });
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      full.close();
    }
  });

  test("the caller's signal cancels it", async () => {
    const full = await fullListener();
    try {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      expect(await run(full.port, { kind: "tcp", timeout: "5s" }, abort.signal)).toEqual({ ok: false, message: "cancelled" });
    } finally {
      full.close();
    }
  });

  test("no port anywhere: a failure that says so", async () => {
    expect(await run(null, { kind: "tcp" })).toEqual({ ok: false, message: "no port to check" });
  });
});

describe("targets", () => {
  test("the check's port, else the server's, else the service's, else the kind's usual one (tcp has none)", () => {
    const svc = (s: object) => Value.Default(ServiceSchema, s) as ServiceRaw;
    const server = { address: "198.18.0.1", weight: 1 };
    expect(targetOf(svc({ name: "a", port: 80, servers: [], check: { port: 8080 } }), { ...server, port: 81 }).port).toBe(8080);
    expect(targetOf(svc({ name: "a", port: 80, servers: [], check: {} }), { ...server, port: 81 }).port).toBe(81);
    expect(targetOf(svc({ name: "a", port: 80, servers: [], check: {} }), server).port).toBe(80);
    expect(targetOf(svc({ name: "a", servers: [], check: { kind: "https" } }), server).port).toBe(443);
    expect(targetOf(svc({ name: "a", servers: [], check: { kind: "dns" } }), server).port).toBe(53);
    expect(targetOf(svc({ name: "a", servers: [], check: { kind: "tcp" } }), server).port).toBeNull();
  });

  test("a server's own check: its port and kind over the service's, for that server alone", () => {
    const svc = (s: object) => Value.Default(ServiceSchema, s) as ServiceRaw;
    const server = { address: "198.18.0.1", weight: 1 };
    const s = svc({ name: "a", port: 80, servers: [], check: { kind: "http", port: 8080 } });
    expect(targetOf(s, { ...server, check: { port: 9090 } }).port).toBe(9090);
    expect(targetOf(s, { ...server, check: { kind: "https" } }).port).toBe(8080);
    expect(targetOf(svc({ name: "a", servers: [], check: { kind: "tcp" } }), { ...server, check: { kind: "dns" } }).port).toBe(53);
    expect(targetOf(s, server).port).toBe(8080);
  });
});

describe("http", () => {
  const BIG = "x".repeat(HTTP_BODY_LIMIT + 10);
  /** Against (a+)+$ a backtracking matcher tries about 2^29 ways (seconds in one go; 64 KiB of it, forever). */
  const HOSTILE = `${"a".repeat(29)}!`;
  let server: ReturnType<typeof Bun.serve>;
  const hosts: string[] = [];
  beforeAll(() => {
    server = Bun.serve({
      hostname: LOCAL,
      port: 0,
      fetch(req) {
        hosts.push(req.headers.get("host") ?? "");
        const path = new URL(req.url).pathname;
        if (path === "/ok") return new Response("all good: version 42\n");
        if (path === "/down") return new Response("maintenance", { status: 503 });
        if (path === "/moved") return new Response(null, { status: 302, headers: { location: "/ok" } });
        if (path === "/big") return new Response(BIG);
        if (path === "/hostile") return new Response(HOSTILE);
        if (path === "/chunked") {
          const parts = ["first part, ", "second part, ", "the end"];
          return new Response(new ReadableStream({ async pull(c) { const p = parts.shift(); if (p === undefined) c.close(); else { c.enqueue(new TextEncoder().encode(p)); await Bun.sleep(5); } } }));
        }
        return new Response("no such page", { status: 404 });
      },
    });
  });
  afterAll(() => server.stop(true));
  const http = (over: Partial<CheckRaw>) => run(server.port!, { kind: "http", ...over });
  const md5 = (s: string) => createHash("md5").update(s).digest("hex");

  test("statuses in the ranges pass; others fail; redirects are not followed", async () => {
    expect(await http({ path: "/ok" })).toEqual({ ok: true, message: "HTTP 200" });
    expect(await http({ path: "/down" })).toEqual({ ok: false, message: "HTTP 503, expected 200-399" });
    expect(await http({ path: "/down", status: "500-503" })).toEqual({ ok: true, message: "HTTP 503" });
    expect(await http({ path: "/moved", status: "200,302" })).toEqual({ ok: true, message: "HTTP 302" });
    expect(await http({ path: "/moved", status: "200" })).toEqual({ ok: false, message: "HTTP 302, expected 200" });
    expect(await http({ path: "/nothing" })).toEqual({ ok: false, message: "HTTP 404, expected 200-399" });
  });

  test("a body regular expression", async () => {
    expect(await http({ path: "/ok", body: "version [0-9]+" })).toEqual({ ok: true, message: "HTTP 200" });
    expect(await http({ path: "/ok", body: "^maintenance" })).toEqual({ ok: false, message: "HTTP 200, but the body does not match /^maintenance/" });
    expect((await http({ path: "/ok", body: "(" })).message).toStartWith("body is not a regular expression");
    expect(await http({ path: "/chunked", body: "second part, the end$" })).toEqual({ ok: true, message: "HTTP 200" });
  });

  test("a catastrophic pattern against a hostile body is stopped at its deadline, off this thread: the loop keeps turning, and the next match is answered", async () => {
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = performance.now();
    const slow = await http({ path: "/hostile", body: "(a+)+$" });
    const took = performance.now() - started;
    clearInterval(ticker);
    expect(slow).toEqual({ ok: false, message: `HTTP 200, but matching the body against /(a+)+$/ took over ${REGEX_DEADLINE_MS} ms and was stopped (a pattern that backtracks, such as nested quantifiers like (a+)+)` });
    expect(took).toBeLessThan(REGEX_DEADLINE_MS + 1500);
    expect(ticks).toBeGreaterThan(REGEX_DEADLINE_MS / 10 / 4);
    expect(await http({ path: "/hostile", body: "^a+!$" })).toEqual({ ok: true, message: "HTTP 200" });
  });

  test("an MD5 digest as keepalived's genhash prints it, and a SHA-256 one, of the body alone (chunked too)", async () => {
    expect(await http({ path: "/ok", digest: md5("all good: version 42\n") })).toEqual({ ok: true, message: "HTTP 200" });
    const sha = createHash("sha256").update("first part, second part, the end").digest("hex");
    expect(await http({ path: "/chunked", digest: sha })).toEqual({ ok: true, message: "HTTP 200" });
    const wrong = md5("something else");
    expect(await http({ path: "/ok", digest: wrong })).toEqual({ ok: false, message: `HTTP 200, but the body's digest is ${md5("all good: version 42\n")}, expected ${wrong}` });
  });

  test("a body over the limit: too long to digest, and a regular expression sees its first part", async () => {
    expect(await http({ path: "/big", digest: md5(BIG) })).toEqual({ ok: false, message: `HTTP 200, but the body is over ${HTTP_BODY_LIMIT} bytes: too long to digest` });
    expect(await http({ path: "/big", body: "^x+$" })).toEqual({ ok: true, message: "HTTP 200" });
  });

  test("the Host header is the virtual host when set, else the address and port", async () => {
    hosts.length = 0;
    await http({ path: "/ok", host: "www.example.test" });
    await http({ path: "/ok" });
    expect(hosts).toEqual(["www.example.test", `${LOCAL}:${server.port}`]);
  });

  test("a server that accepts and never answers: no answer within the timeout", async () => {
    const silent = Bun.listen({ hostname: LOCAL, port: 0, socket: { data() {} } });
    try {
      expect(await run(silent.port, { kind: "http", timeout: "300ms" })).toEqual({ ok: false, message: "no answer within 300 ms" });
    } finally {
      silent.stop(true);
    }
  });

  test("garbage, a closed connection and a cut body fail with what went wrong", async () => {
    const answers = ["SSH-2.0-OpenSSH_9.6\r\n\r\n", "", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"];
    for (const [i, expected] of ['not an HTTP response: "SSH-2.0-OpenSSH_9.6"', "the connection closed before a response", "the connection closed in the middle of the body"].entries()) {
      const raw = Bun.listen({ hostname: LOCAL, port: 0, socket: { data(s) { s.end(answers[i]!); } } });
      try {
        expect(await run(raw.port, { kind: "http", body: "." })).toEqual({ ok: false, message: expected });
      } finally {
        raw.stop(true);
      }
    }
  });

  test("nothing listening: refused", async () => {
    expect(await run(await freePort(), { kind: "http" })).toEqual({ ok: false, message: "connect: ECONNREFUSED" });
  });
});

describe("http responses, read as they come", () => {
  const read = (chunks: Uint8Array[], wantBody = true) => {
    const r = new ResponseReader(wantBody);
    for (const c of chunks) if (r.push(c)) break;
    if (!r.enough) r.close();
    return r;
  };
  const bytes = (s: string) => new TextEncoder().encode(s);
  const RESPONSE = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";

  test("a chunked body split anywhere reads the same", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: RESPONSE.length - 1 }), { maxLength: 8 }), (cuts) => {
        const at = [0, ...new Set(cuts)].sort((a, b) => a - b);
        const all = bytes(RESPONSE);
        const r = read(at.map((from, i) => all.subarray(from, at[i + 1] ?? all.length)));
        expect(r.complete).toBe(true);
        expect(new TextDecoder().decode(r.body.get())).toBe("hello, world");
      }),
    );
  });

  test("a response read until the close, a bodiless status, and the head alone when no body is wanted", () => {
    const untilClose = read([bytes("HTTP/1.0 200 OK\r\n\r\nsome"), bytes(" more")]);
    expect([untilClose.complete, new TextDecoder().decode(untilClose.body.get())]).toEqual([true, "some more"]);
    expect(read([bytes("HTTP/1.1 204 No Content\r\n\r\n")]).complete).toBe(true);
    const headOnly = new ResponseReader(false);
    expect(headOnly.push(bytes("HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n"))).toBe(true);
    expect(headOnly.status).toBe(200);
  });

  test("bad heads and bodies are errors, never exceptions", () => {
    expect(read([bytes(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(HTTP_HEAD_LIMIT)}`)]).error).toBe(`a response head over ${HTTP_HEAD_LIMIT} bytes`);
    expect(read([bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")]).error).toBe("a bad Content-Length");
    expect(read([bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")]).error).toBe("a chunk size is not hexadecimal");
    expect(read([bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n")]).error).toBe("a chunk does not end where its size says");
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (garbage) => void read([bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), garbage])));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (garbage) => void read([garbage])));
  });

  test("status ranges", () => {
    expect(parseStatusRanges("200-299,302,500-503")).toEqual([[200, 299], [302, 302], [500, 503]]);
  });
});

describe("https", () => {
  let key: string;
  let cert: string;
  let haveOpenssl = false;
  beforeAll(() => {
    haveOpenssl = Bun.which("openssl") !== null;
    if (!haveOpenssl) return console.log("skip: https tests: openssl is not installed");
    const keyFile = join(tmp.dir, "key.pem");
    const certFile = join(tmp.dir, "cert.pem");
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=www.example.test"], { stdout: "ignore", stderr: "pipe", timeout: 30_000 });
    expect(made.exitCode).toBe(0);
    key = readFileSync(keyFile, "utf8");
    cert = readFileSync(certFile, "utf8");
  });

  /** A TLS server that answers any request with 200 and records the server name and Host header it got. */
  function tlsServer() {
    const seen: Array<{ sni: string; host: string }> = [];
    const server = Bun.listen({
      hostname: LOCAL,
      port: 0,
      tls: { key, cert },
      socket: {
        data(s, d) {
          const host = /\r\nHost: ([^\r]*)\r\n/i.exec(d.toString())?.[1] ?? "";
          seen.push({ sni: s.getServername(), host });
          s.end("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure");
        },
      },
    });
    return { port: server.port, seen, stop: () => server.stop(true) };
  }

  test("a self-signed certificate passes unless verify_tls; the server name sent is sni, else host", async () => {
    if (!haveOpenssl) return;
    const s = tlsServer();
    try {
      expect(await run(s.port, { kind: "https", host: "www.example.test", sni: "api.example.test", body: "^secure$" })).toEqual({ ok: true, message: "HTTP 200" });
      expect(await run(s.port, { kind: "https", host: "www.example.test" })).toEqual({ ok: true, message: "HTTP 200" });
      expect(s.seen).toEqual([
        { sni: "api.example.test", host: "www.example.test" },
        { sni: "www.example.test", host: "www.example.test" },
      ]);
      expect(await run(s.port, { kind: "https", host: "www.example.test", verify_tls: true })).toEqual({ ok: false, message: "TLS: DEPTH_ZERO_SELF_SIGNED_CERT" });
    } finally {
      s.stop();
    }
  });

  test("https to a plain server: the handshake fails and says why", async () => {
    const plain = Bun.listen({ hostname: LOCAL, port: 0, socket: { data(s) { s.end("HTTP/1.1 200 OK\r\n\r\n"); } } });
    try {
      expect(await run(plain.port, { kind: "https" })).toEqual({ ok: false, message: "TLS: WRONG_VERSION_NUMBER" });
    } finally {
      plain.stop(true);
    }
  });
});

describe("misc", () => {
  function script(name: string, body: string): string {
    const path = join(tmp.dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  }

  test("exit 0 passes, anything else fails with the code and its last line", async () => {
    const exit = script("exit.sh", 'echo "checked $TANDEM_CHECK_ADDRESS:$TANDEM_CHECK_PORT"; exit "$1"');
    expect(await run(8080, { kind: "misc", command: [exit, "0"] })).toEqual({ ok: true, message: `checked ${LOCAL}:8080` });
    expect(await run(8080, { kind: "misc", command: [exit, "1"] })).toEqual({ ok: false, message: `exit 1: checked ${LOCAL}:8080` });
    expect(await run(8080, { kind: "misc", command: [exit, "7"] })).toEqual({ ok: false, message: `exit 7: checked ${LOCAL}:8080` });
  });

  test("dynamic_weight: 2 to 255 pass and set the weight to the code minus 2; 1 fails; 0 leaves the weight", async () => {
    const exit = script("dynamic.sh", 'exit "$1"');
    const dyn = (code: number) => run(80, { kind: "misc", command: [exit, String(code)], dynamic_weight: true });
    expect(await dyn(0)).toEqual({ ok: true, message: "exit 0" });
    expect(await dyn(1)).toEqual({ ok: false, message: "exit 1" });
    expect(await dyn(2)).toEqual({ ok: true, message: "exit 2: weight 0", weight: 0 });
    expect(await dyn(7)).toEqual({ ok: true, message: "exit 7: weight 5", weight: 5 });
    expect(await dyn(255)).toEqual({ ok: true, message: "exit 255: weight 253", weight: 253 });
  });

  test("at the timeout the whole process group is killed", async () => {
    const pidFile = join(tmp.dir, "misc.pid");
    const hang = script("hang.sh", `echo $$ > ${pidFile}; sleep 30 & sleep 30; wait`);
    const started = performance.now();
    const out = await run(80, { kind: "misc", command: [hang], timeout: "300ms" });
    expect(out.ok).toBe(false);
    // SIGTERM ends it; where PID 1 does not reap orphans, their zombies wait for the SIGKILL after the grace.
    expect(out.message).toStartWith("no answer within 300 ms: its process group ");
    expect(performance.now() - started).toBeLessThan(2500);
    const pgid = Number(readFileSync(pidFile, "utf8"));
    await waitFor("the group to be gone", () => (liveInGroup(pgid).length === 0 ? true : undefined), 3000);
  });

  test("a command that is not there fails and says so", async () => {
    const out = await run(80, { kind: "misc", command: [join(tmp.dir, "no-such-check")] });
    expect(out.ok).toBe(false);
    expect(out.message).toContain("cannot run");
  });
});

/** A DNS responder on UDP; `mode` says what it answers. */
async function dnsServer() {
  let mode: "answer" | "aaaa-only" | "nxdomain" | "garbage" | "other-id" | "silence" = "answer";
  const socket = await Bun.udpSocket({
    hostname: LOCAL,
    port: 0,
    socket: {
      data(s, query, port, address) {
        const q = new Uint8Array(query);
        const questionEnd = q.length;
        const header = (flags: number, answers: number) => {
          const h = new Uint8Array(12);
          const v = new DataView(h.buffer);
          v.setUint16(0, mode === "other-id" ? (q[0]! << 8) ^ 0xffff : (q[0]! << 8) | q[1]!);
          v.setUint16(2, flags);
          v.setUint16(4, 1);
          v.setUint16(6, answers);
          return h;
        };
        const record = (type: number, data: number[]) => [0xc0, 12, type >> 8, type & 255, 0, 1, 0, 0, 0, 60, 0, data.length, ...data];
        const reply = (flags: number, records: number[][]) => {
          const out = new Uint8Array([...header(flags, records.length), ...q.subarray(12, questionEnd), ...records.flat()]);
          s.send(out, port, address);
        };
        if (mode === "answer") reply(0x8180, [record(5, [3, 119, 119, 119, 0]), record(DNS_TYPES.A, [127, 0, 0, 1])]);
        else if (mode === "aaaa-only") reply(0x8180, [record(DNS_TYPES.AAAA, new Array(16).fill(0))]);
        else if (mode === "nxdomain") reply(0x8183, []);
        else if (mode === "garbage") s.send(new Uint8Array([1, 2, 3, 4, 5]), port, address);
        else if (mode === "other-id") reply(0x8180, [record(DNS_TYPES.A, [127, 0, 0, 1])]);
      },
    },
  });
  return { port: socket.port, set: (m: typeof mode) => (mode = m), close: () => socket.close() };
}

describe("dns", () => {
  let server: Awaited<ReturnType<typeof dnsServer>>;
  beforeAll(async () => {
    server = await dnsServer();
  });
  afterAll(() => server.close());
  const dns = (over: Partial<CheckRaw> = {}) => run(server.port, { kind: "dns", query: "www.example.test", timeout: "300ms", ...over });

  test("an answer with a record of the type asked passes (after a CNAME too)", async () => {
    server.set("answer");
    expect(await dns()).toEqual({ ok: true, message: "1 A record" });
  });

  test("NOERROR without the type asked, NXDOMAIN and garbage fail", async () => {
    server.set("aaaa-only");
    expect(await dns()).toEqual({ ok: false, message: "NOERROR, but no A record in the answer" });
    expect(await dns({ query_type: "AAAA" })).toEqual({ ok: true, message: "1 AAAA record" });
    server.set("nxdomain");
    expect(await dns()).toEqual({ ok: false, message: "NXDOMAIN" });
    server.set("garbage");
    expect(await dns()).toEqual({ ok: false, message: "a malformed response (5 bytes)" });
  });

  test("silence, or answers to another query only: no answer within the timeout", async () => {
    for (const mode of ["silence", "other-id"] as const) {
      server.set(mode);
      expect(await dns()).toEqual({ ok: false, message: "no answer within 300 ms" });
    }
  });

  test("nothing listening: the port unreachable is a failure at once", async () => {
    const started = performance.now();
    expect(await run(await freePort(), { kind: "dns", query: "www.example.test", timeout: "2s" })).toEqual({ ok: false, message: "ECONNREFUSED" });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("the query on the wire; names that cannot be one", () => {
    const q = encodeQuery(0x1234, "ab.c.", "MX") as Uint8Array;
    expect([...q]).toEqual([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 97, 98, 1, 99, 0, 0, 15, 0, 1]);
    expect(encodeQuery(1, `${"a".repeat(64)}.test`, "A")).toContain("over 63 bytes");
    expect(encodeQuery(1, Array(130).fill("ab").join("."), "A")).toContain("over 255 bytes");
    expect(encodeQuery(1, "bücher.test", "A")).toContain("not ASCII");
    expect(encodeQuery(1, "a..b", "A")).toContain("empty");
  });

  test("reading a response never throws, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, ours) => {
        if (ours && bytes.length >= 2) bytes.set([0xab, 0xcd]);
        const v = readResponse(bytes, 0xabcd, "A");
        expect(["other", "answer", "fail"]).toContain(v.kind);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("runCheck", () => {
  test("none always passes; a checker that throws is a failure, not an exception", async () => {
    expect(await run(null, { kind: "none" })).toEqual({ ok: true, message: "not checked" });
    const throwing: CheckFn = async () => {
      throw new Error("boom");
    };
    expect(await runCheck({ address: LOCAL, port: 1 }, check({ kind: "tcp" }), new AbortController().signal, { ...CHECKERS, tcp: throwing })).toEqual({ ok: false, message: "boom" });
  });
});
