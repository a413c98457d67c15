/**
 * Fuzzing the NBD codec (modules/replication/nbd/codec.ts): any bytes and
 * mutated valid streams through the handshake and the request reader.
 * Never a throw, each step within its time bound and its input; the
 * handshake keeps at most one option's bounded data; a request is carried
 * out only within the export and its bounds, anything else refused with
 * NBD's error or, for a broken frame, a hang-up (test/modules/replication/
 * nbd/wire.ts: `expectSound`).
 */
import { describe, test } from "bun:test";
import fc from "fast-check";
import { CLIENT_FLAG, CMD, CMD_FLAG, DEFAULT_MAX_PAYLOAD, INFO, MAX_OPTION_DATA, OPT, readRequest, type Export } from "../../modules/replication/nbd/codec.ts";
import { clientFlags, concat, expectSound, go, goData, handshake, option, request, write } from "../modules/replication/nbd/wire.ts";
import { bounded, byteMutations, mutateBytes, parameters, TEST_TIMEOUT_MS } from "./fuzz.ts";

/** A decoder's call is micro-seconds; this catches a loop, not a slow moment. */
const BOUND_MS = 250;

const EXPORTS: Export[] = [
  { name: "vol", description: "fuzzed", size: 1 << 30, readOnly: false, multiConn: true, minBlock: 1, preferredBlock: 4096, maxPayload: DEFAULT_MAX_PAYLOAD },
  { name: "ro", description: "", size: 123 * 512, readOnly: true, multiConn: false, minBlock: 512, preferredBlock: 4096, maxPayload: 1 << 16 },
];
const CATALOG = { find: (n: string) => (n === "" ? EXPORTS[0] : EXPORTS.find((e) => e.name === n)), list: () => EXPORTS };

/** A client's whole handshake, as real clients send it. */
const VALID_HANDSHAKE = concat([
  clientFlags(CLIENT_FLAG.FIXED_NEWSTYLE | CLIENT_FLAG.NO_ZEROES),
  option(OPT.LIST),
  option(OPT.STRUCTURED_REPLY),
  option(OPT.INFO, goData("ro", [INFO.BLOCK_SIZE])),
  go("vol", [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE]),
]);

const pieces = (b: Uint8Array) =>
  fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 12 }).map((sizes) => {
    const out: Uint8Array[] = [];
    let at = 0;
    for (const n of sizes) {
      out.push(b.subarray(at, at + n));
      at += n;
    }
    out.push(b.subarray(at));
    return out;
  });

function drive(chunks: Uint8Array[]): void {
  const run = bounded(BOUND_MS, () => handshake(chunks, CATALOG));
  if (run.held > 16 + MAX_OPTION_DATA + 64) throw new Error(`the handshake held ${run.held} bytes`);
}

describe("fuzz: NBD handshake", () => {
  test(
    "any bytes after valid client flags",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => {
          const stream = concat([clientFlags(CLIENT_FLAG.FIXED_NEWSTYLE), b]);
          drive([stream]);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "mutated valid handshakes, split anywhere",
    () => {
      fc.assert(
        fc.property(
          byteMutations.chain((ms) => pieces(mutateBytes(VALID_HANDSHAKE, ms))),
          (chunks) => drive(chunks),
        ),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe("fuzz: NBD requests", () => {
  const valid = fc.oneof(
    fc.record({ o: fc.nat({ max: 1 << 20 }), d: fc.uint8Array({ maxLength: 600 }), f: fc.constantFrom(0, CMD_FLAG.FUA) }).map(({ o, d, f }) => write(1n, o, d, f)),
    fc.tuple(fc.constantFrom(CMD.READ, CMD.TRIM, CMD.WRITE_ZEROES, CMD.FLUSH, CMD.DISC), fc.nat({ max: 1 << 20 }), fc.nat({ max: 1 << 17 })).map(([t, o, n]) => request(t, 2n, o, n)),
  );
  test(
    "any bytes and mutated requests against each export, structured or not",
    () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: 700 }), fc.tuple(valid, byteMutations).map(([b, ms]) => mutateBytes(b, ms))),
          fc.constantFrom(...EXPORTS),
          fc.boolean(),
          (input, e, structured) => {
            const r = bounded(BOUND_MS, () => readRequest(input, { export: e, structured, flags: 0 }));
            expectSound(r, e, input);
          },
        ),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
