import { describe, expect, test } from "bun:test";
import { parseWrk, verdict } from "./proxy.bench.ts";

// wrk 4.1.0's output (Debian bookworm), as the proxy bench reads it.
const CLEAN = `Running 5s test @ http://127.0.0.1:40123/small
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.62ms  412.07us  12.90ms   81.20%
    Req/Sec    19.85k     1.10k   22.01k    70.00%
  Latency Distribution
     50%    1.55ms
     75%    1.80ms
     90%    2.07ms
     99%  780.00us
  197523 requests in 5.00s, 31.08MB read
Requests/sec:  39504.60
Transfer/sec:      6.22MB
`;

const FAULTY = `Running 5s test @ http://127.0.0.1:40123/large
  2 threads and 256 connections
  Latency Distribution
     50%   10.01ms
     75%   20.33ms
     90%   40.10ms
     99%    1.20s
  4012 requests in 5.01s, 250.80MB read
  Socket errors: connect 3, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 7
Requests/sec:    800.80
Transfer/sec:     50.06MB
`;

describe("proxy bench: reading wrk", () => {
  test("requests, requests/s and p99 with its unit", () => {
    expect(parseWrk(CLEAN)).toEqual({ requests: 197523, rps: 39504.6, p99Ms: 0.78, errors: 0 });
  });

  test("socket errors and non-2xx answers count as errors; p99 in seconds", () => {
    expect(parseWrk(FAULTY)).toEqual({ requests: 4012, rps: 800.8, p99Ms: 1200, errors: 17 });
  });

  test("output without figures is refused with what wrk said", () => {
    expect(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused")).toThrow(/Connection refused/);
  });
});

describe("proxy bench: the issue's goal", () => {
  const haproxy = { rps: 40_000, p99Ms: 4, cpuUsPerRequest: 23, upstreamConnections: 2, errors: 0 };
  const at = (rps: number, p99Ms: number, cpuUsPerRequest: number) => verdict({ ...haproxy, rps, p99Ms, cpuUsPerRequest }, haproxy);

  test("met at or above HAProxy's requests/s with no more CPU per request", () => {
    expect(at(40_000, 4, 23)).toBe("goal met");
    expect(at(41_000, 5.9, 20)).toBe("goal met");
  });

  test("short between 0.8× and the goal, or with more CPU per request", () => {
    expect(at(32_000, 4, 20)).toBe("short of the goal");
    expect(at(44_000, 4, 24)).toBe("short of the goal");
  });

  test("not done below 0.8× or with p99 above 1.5×", () => {
    expect(at(31_999, 4, 10)).toMatch(/^not done/);
    expect(at(50_000, 6.1, 10)).toMatch(/^not done/);
  });

  test("not done when a request failed, however fast the rest", () => {
    expect(verdict({ ...haproxy, rps: 80_000, cpuUsPerRequest: 10, errors: 1 }, haproxy)).toBe("not done (1 failed request)");
  });
});
