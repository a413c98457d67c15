/**
 * Fuzzing the coordinators' messages (modules/resources/wire.ts): any bytes,
 * any JSON, valid messages mutated as text, and nesting deep enough to break
 * a recursive reader give a message or undefined, never a throw; decodeAdmin
 * answers any value with the state or a problem.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { decodeAdmin, decodeMessage, encodeMessage } from "../../modules/resources/wire.ts";
import type { Message } from "../../modules/resources/engine.ts";
import { MAX_APP_MESSAGE_BYTES } from "../../modules/heartbeat/service.ts";
import { bounded, mutate, mutations, parameters, TEST_TIMEOUT_MS } from "./fuzz.ts";

const BOUND_MS = 250;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

const REPORT: Message = {
  type: "report",
  seq: 4,
  leaving: false,
  states: { vip: "started", web: "failed-monitor" },
  pending: ["web"],
  failures: [{ resource: "web", count: 2, lastFailedAt: 1_795_372_733_075.25, startFailed: false }],
  admin: { version: 3, by: "alpha", standby: ["bravo"], moves: [{ group: "www", node: "alpha", until: null }], cleanups: { web: 1 } },
};
const TRANSITION: Message = {
  type: "transition",
  seq: 9,
  basis: { alpha: 4, bravo: 7 },
  actions: [{ id: "start:vip@bravo", kind: "start", resource: "vip", node: "bravo", intervalMs: 0, timeoutMs: 20000 }],
};
const TOKENS = ['"report"', '"transition"', '"__proto__"', '"constructor"', "null", "true", "-1", "1e309", "9007199254740993", "[", "]", "{", "}", ",", ":", '"', "\\u0000", "\\ud800"];

/** The decoded message re-encoded decodes to itself: what is accepted is a plain message. */
function decodesWithin(bytes: Uint8Array): void {
  const m = bounded(BOUND_MS, () => decodeMessage(bytes));
  if (m) expect(decodeMessage(encodeMessage(m))).toEqual(m);
}

describe("fuzz: resources wire (decodeMessage, decodeAdmin)", () => {
  test(
    "any bytes, any JSON, mutated valid messages and deep nesting: a message or undefined",
    () => {
      const nesting = fc.constantFrom(["[", "]"], ['{"a":', "}"], ['{"type":"report","states":', "}"]);
      const deep = fc.tuple(nesting, fc.integer({ min: 1, max: Math.floor(MAX_APP_MESSAGE_BYTES / 30) }), fc.boolean()).map(([[open, close], n, closed]) => ENCODER.encode(open.repeat(n) + (closed ? "1" + close.repeat(n) : "")));
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 512 }),
        fc.jsonValue().map((v) => ENCODER.encode(JSON.stringify(v))),
        fc.tuple(fc.constantFrom(REPORT, TRANSITION), mutations(TOKENS)).map(([m, ms]) => ENCODER.encode(mutate(DECODER.decode(encodeMessage(m)), ms))),
        deep,
      );
      fc.assert(fc.property(bytes, decodesWithin), parameters());
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "decodeAdmin: any value at any wall time gives the admin state or a problem naming where",
    () => {
      const admin = REPORT.type === "report" ? REPORT.admin : undefined;
      const mutatedAdmin = mutations(TOKENS).map((ms) => {
        try {
          return JSON.parse(mutate(JSON.stringify(admin), ms)) as unknown;
        } catch {
          return admin;
        }
      });
      const value = fc.oneof(fc.anything({ size: "small" }), fc.jsonValue({ maxDepth: 3 }), mutatedAdmin);
      fc.assert(
        fc.property(value, fc.integer({ min: 0, max: 2 ** 42 }), (v, wall) => {
          const r = bounded(BOUND_MS, () => decodeAdmin(v, wall));
          if ("problem" in r) expect(r.problem).toMatch(/^\/.*: ./s);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
