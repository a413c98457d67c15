import { expect, test } from "bun:test";
import fc from "fast-check";
import { BALANCE } from "../../../../modules/proxy/config.ts";
import type { Outcome, Server } from "../../../../modules/proxy/balance/balancer.ts";
import { backend, balancer, request, state } from "./helpers.ts";

const SERVERS = 4;
const ADMIN = ["ready", "drain", "maint"] as const;
const OUTCOMES: Outcome[] = ["success", "connect_error", "timeout", "http_5xx"];

const op = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("pick" as const), source: fc.nat(6), exclude: fc.subarray([0, 1, 2, 3]), cookie: fc.option(fc.nat(SERVERS - 1), { nil: undefined }) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant("release" as const), which: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant("state" as const), server: fc.nat(SERVERS - 1), up: fc.boolean(), admin: fc.constantFrom(...ADMIN), weight: fc.nat(3) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("observe" as const), which: fc.nat(), outcome: fc.constantFrom(...OUTCOMES) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("cancel" as const), which: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant("time" as const), ms: fc.nat(3000) }), weight: 1 },
);

const usable = (s: Server) => s.up && !s.observedDown && s.admin === "ready" && s.weight > 0;
/** The servers a new client may go to: the usable active ones, or the first usable backup. */
function pool(servers: readonly Server[]): Server[] {
  const active = servers.filter((s) => !s.backup && usable(s));
  const backup = servers.find((s) => s.backup && usable(s));
  return active.length || !backup ? active : [backup];
}

/**
 * Any sequence of picks, releases, state changes, observations, cancels and
 * expiries keeps the books: in-flight counts are the requests holding each
 * server, never above maxconn; a new request never lands on a server that
 * may not take it; the queue stays within its bound; every queued request
 * ends exactly once (dispatched, cancelled or expired); a request waits only
 * when every server it may use is full.
 */
test("the balancer's books stay right under any sequence of events (property)", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...BALANCE),
      fc.array(fc.record({ weight: fc.integer({ min: 0, max: 3 }), maxconn: fc.integer({ min: 1, max: 3 }), backup: fc.boolean() }), { minLength: SERVERS, maxLength: SERVERS }),
      fc.boolean(),
      fc.array(op, { maxLength: 120 }),
      (balance, specs, stick, ops) => {
        const config = backend(specs, { balance, queue: 4, queue_timeout: "2s", error_limit: 2, cookie: "SRV", stick_on_source: stick, ...(balance === "url_param" || balance === "hdr" ? { hash_key: "k" } : {}) });
        const { b, dispatched } = balancer(config);
        const binds = stick || balance === "source" || balance === "uri" || balance === "url_param";
        const holding: Server[] = [];
        /** Queued handles with the servers they excluded. */
        const waiting = new Map<number, Server[]>();
        let now = 0;
        let handle = 0;
        const settle = () => {
          for (const [h, i] of dispatched.splice(0)) {
            const s = b.servers[i]!;
            expect(waiting.get(h)?.includes(s)).toBe(false);
            waiting.delete(h);
            expect(s.up && !s.observedDown && s.admin !== "maint").toBe(true);
            holding.push(s);
          }
        };
        for (const o of ops) {
          if (o.kind === "pick") {
            const h = ++handle;
            const cookie = o.cookie === undefined ? undefined : b.servers[o.cookie]!.cookie;
            const exclude = o.exclude.map((i) => b.servers[i]!);
            const r = b.pick(request({ handle: h, source: `198.19.0.${o.source}`, now, uri: `/p?k=${o.source}`, cookie, exclude }));
            if (r === "queued") waiting.set(h, exclude);
            if (r === "queued" && !binds && cookie === undefined) expect(pool(b.servers).filter((s) => !exclude.includes(s) && s.inflight < s.maxconn)).toEqual([]);
            else if (typeof r !== "string") {
              expect(exclude.includes(r)).toBe(false);
              expect(r.up && !r.observedDown && r.admin !== "maint").toBe(true);
              holding.push(r);
            }
          } else if (o.kind === "release" && holding.length) {
            b.release(holding.splice(o.which % holding.length, 1)[0]!);
          } else if (o.kind === "state") {
            b.setStates([state(o.server, { up: o.up, admin: o.admin, weight: o.weight })]);
          } else if (o.kind === "observe" && holding.length) {
            b.observe(holding[o.which % holding.length]!, o.outcome);
          } else if (o.kind === "cancel" && waiting.size) {
            const h = [...waiting.keys()][o.which % waiting.size]!;
            expect(b.cancel(h)).toBe(true);
            waiting.delete(h);
          } else if (o.kind === "time") {
            now += o.ms;
            for (const h of b.expire(now)) expect(waiting.delete(h)).toBe(true);
          }
          settle();
          expect(b.queued).toBe(waiting.size);
          expect(b.queued).toBeLessThanOrEqual(4);
          for (const s of b.servers) {
            expect(s.inflight).toBe(holding.filter((x) => x === s).length);
            expect(s.inflight).toBeLessThanOrEqual(s.maxconn);
          }
        }
      },
    ),
    { numRuns: 500, seed: 13 },
  );
});
