import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  afterResyncSource,
  afterResyncTarget,
  decide,
  mirrorDecision,
  newGeneration,
  resolveSplitBrain,
  SPLIT_BRAIN_POLICIES,
  startResyncSource,
  startResyncTarget,
  type Generations,
  type SideView,
} from "../../../modules/replication/generations.ts";

const gen = (current: number, bitmap = 0, history: number[] = []): Generations => ({ current, bitmap, history });
const side = (name: string, g: Generations, more: Partial<SideView> = {}): SideView => ({
  name,
  gen: g,
  primary: false,
  crashedPrimary: false,
  consistent: true,
  dirty: 0,
  promotedAt: 0,
  discardMyData: false,
  ...more,
});

describe("the resync decision table", () => {
  test("both current generations empty: a new pair, no data to sync", () => {
    expect(decide(side("a", gen(0)), side("b", gen(0)))).toMatchObject({ kind: "no-data" });
  });
  test("own current empty: full resync as target", () => {
    expect(decide(side("a", gen(0)), side("b", gen(7)))).toMatchObject({ kind: "resync", role: "target", full: true });
  });
  test("peer's current empty: full resync as source", () => {
    expect(decide(side("a", gen(7)), side("b", gen(0)))).toMatchObject({ kind: "resync", role: "source", full: true });
  });
  test("equal current generations and clean bitmaps: in sync", () => {
    expect(decide(side("a", gen(7, 0, [3])), side("b", gen(7, 0, [3])))).toMatchObject({ kind: "in-sync" });
  });
  test("equal current generations, dirty regions after a crash: the crashed primary is the bitmap source", () => {
    const crashed = side("b", gen(7), { crashedPrimary: true, dirty: 2 });
    expect(decide(side("a", gen(7)), crashed)).toMatchObject({ kind: "resync", role: "target", full: false });
    expect(decide(crashed, side("a", gen(7)))).toMatchObject({ kind: "resync", role: "source", full: false });
  });
  test("equal current generations: the primary now is the source before any crashed primary", () => {
    expect(decide(side("a", gen(7), { primary: true }), side("b", gen(7), { crashedPrimary: true, dirty: 1 }))).toMatchObject({ role: "source" });
  });
  test("equal current generations, neither primary: the side with dirty regions, then the lower name", () => {
    expect(decide(side("b", gen(7), { dirty: 1 }), side("a", gen(7)))).toMatchObject({ role: "source" });
    expect(decide(side("b", gen(7), { dirty: 1 }), side("a", gen(7), { dirty: 1 }))).toMatchObject({ role: "target" });
  });
  test("peer's bitmap generation is own current (the peer went on without us): bitmap resync as target", () => {
    expect(decide(side("a", gen(5)), side("b", gen(9, 5)))).toMatchObject({ kind: "resync", role: "target", full: false });
  });
  test("own bitmap generation is the peer's current (a secondary came back): bitmap resync as source", () => {
    expect(decide(side("a", gen(9, 5)), side("b", gen(5)))).toMatchObject({ kind: "resync", role: "source", full: false });
  });
  test("own current in the peer's history (the bitmap no longer covers it): full resync as target", () => {
    expect(decide(side("a", gen(5)), side("b", gen(11, 9, [5])))).toMatchObject({ kind: "resync", role: "target", full: true });
  });
  test("peer's current in own history: full resync as source", () => {
    expect(decide(side("a", gen(11, 9, [5])), side("b", gen(5)))).toMatchObject({ kind: "resync", role: "source", full: true });
  });
  test("equal bitmap generations, different currents: split brain a bitmap resync can resolve", () => {
    expect(decide(side("a", gen(8, 5)), side("b", gen(9, 5)))).toMatchObject({ kind: "split-brain", related: true });
  });
  test("only an older common generation: split brain that needs a full resync", () => {
    expect(decide(side("a", gen(8, 6, [5])), side("b", gen(9, 7, [5])))).toMatchObject({ kind: "split-brain", related: false });
  });
  test("an inconsistent side (a resync cut off) resumes as target by the bitmap where the table allows", () => {
    expect(decide(side("a", gen(5), { consistent: false, dirty: 3 }), side("b", gen(9, 5)))).toMatchObject({ kind: "resync", role: "target", full: false });
  });
  test("an inconsistent side is never a source: where the table says otherwise, a full resync to it", () => {
    expect(decide(side("a", gen(8, 5), { consistent: false }), side("b", gen(9, 5)))).toMatchObject({ kind: "resync", role: "target", full: true, rule: "self-inconsistent" });
    expect(decide(side("a", gen(9, 5)), side("b", gen(5), { consistent: false }))).toMatchObject({ kind: "resync", role: "source", full: false });
    expect(decide(side("a", gen(7)), side("b", gen(7, 0, [3]), { consistent: false, crashedPrimary: true, dirty: 2 }))).toMatchObject({ kind: "resync", role: "source", full: true, rule: "peer-inconsistent" });
  });
  test("an inconsistent side whose current is the peer's bitmap generation (a resync cut off) resumes as target by the bitmap", () => {
    expect(decide(side("a", gen(4), { consistent: false, dirty: 9 }), side("b", gen(9, 4, [5])))).toMatchObject({ kind: "resync", role: "target", full: false, rule: "self-resumes" });
    // The source went on apart meanwhile (a new current, the bitmap generation kept): still by its bitmap.
    expect(decide(side("a", gen(4), { consistent: false }), side("b", gen(12, 4, [9, 5]), { primary: true }))).toMatchObject({ kind: "resync", role: "target", full: false, rule: "self-resumes" });
    // Even where the histories would read as each descending from the other.
    expect(decide(side("a", gen(4, 0, [9]), { consistent: false }), side("b", gen(9, 4)))).toMatchObject({ kind: "resync", role: "target", full: false, rule: "self-resumes" });
  });
  test("an inconsistent side whose current heads the peer's history (the resync finished, its rs-done lost) resyncs by the bitmap, not in full", () => {
    // The source finished resync 4 over its current 9 ({9, 0, [4, 5]}), then went on alone as primary: {12, 9, [4, 5]}.
    expect(decide(side("a", gen(4), { consistent: false }), side("b", gen(12, 9, [4, 5]), { primary: true }))).toMatchObject({ kind: "resync", role: "target", full: false, rule: "self-missed-resync-done" });
    // A secondary source that made no generation since.
    expect(decide(side("a", gen(4), { consistent: false }), side("b", gen(9, 0, [4, 5])))).toMatchObject({ kind: "resync", role: "target", full: false, rule: "self-missed-resync-done" });
    expect(decide(side("b", gen(12, 9, [4, 5]), { primary: true }), side("a", gen(4), { consistent: false }))).toMatchObject({ kind: "resync", role: "source", full: false, rule: "peer-missed-resync-done" });
    // A generation later the bitmap no longer covers it: in full, as the table says.
    expect(decide(side("a", gen(4), { consistent: false }), side("b", gen(15, 9, [12, 4])))).toMatchObject({ kind: "resync", role: "target", full: true });
  });

  test("the peer resumes as target by our bitmap when its current is our bitmap generation", () => {
    expect(decide(side("b", gen(9, 4, [5])), side("a", gen(4), { consistent: false, dirty: 9 }))).toMatchObject({ kind: "resync", role: "source", full: false, rule: "peer-resumes" });
  });
  test("no resume when the source no longer tracks the target's generation (it began another resync): full, as the table says", () => {
    expect(decide(side("a", gen(4), { consistent: false }), side("b", gen(9, 6, [5])))).toMatchObject({ kind: "resync", role: "target", full: true, rule: "self-inconsistent" });
  });
  test("a resync target promoted by force while apart shares only the resync's bitmap generation with its source: split brain", () => {
    const forced = newGeneration(startResyncTarget(gen(0), 4), 13);
    expect(forced).toEqual(gen(13, 4));
    expect(decide(side("a", forced), side("b", gen(9, 4, [5])))).toMatchObject({ kind: "split-brain", related: true, rule: "equal-bitmaps" });
  });
  test("two inconsistent sides: nothing to sync from, the operator decides", () => {
    expect(decide(side("a", gen(8), { consistent: false }), side("b", gen(9), { consistent: false }))).toMatchObject({ kind: "no-data", rule: "both-inconsistent" });
  });
  test("nothing in common: unrelated data", () => {
    expect(decide(side("a", gen(8, 6, [5])), side("b", gen(9, 7, [4])))).toMatchObject({ kind: "unrelated" });
  });

  const generation = fc.integer({ min: 0, max: 6 });
  const gens = fc.record({ current: generation, bitmap: generation, history: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 2 }) });
  const views = (name: string) =>
    fc.record({
      name: fc.constant(name),
      gen: gens,
      primary: fc.boolean(),
      crashedPrimary: fc.boolean(),
      consistent: fc.boolean(),
      dirty: fc.nat(3),
      promotedAt: fc.nat(3),
      discardMyData: fc.boolean(),
    });
  test("property: the peer's verdict is the mirror of ours, and so is a split brain's resolution", () => {
    fc.assert(
      fc.property(views("a"), views("b"), fc.constantFrom(...SPLIT_BRAIN_POLICIES), (a, b, policy) => {
        const { rule: _theirs, ...theirs } = decide(b, a);
        const { rule: _ours, ...ours } = mirrorDecision(decide(a, b));
        expect(theirs).toEqual(ours);
        const ra = resolveSplitBrain(a, b, policy);
        const rb = resolveSplitBrain(b, a, policy);
        expect(rb).toBe(ra === "source" ? "target" : ra === "target" ? "source" : "disconnect");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("generations over a volume's life", () => {
  test("a primary losing its peer starts a generation; the old one is the bitmap generation", () => {
    expect(newGeneration(gen(5, 0, [3]), 9)).toEqual(gen(9, 5, [3]));
  });
  test("a second generation apart keeps the bitmap generation and pushes the current to history", () => {
    expect(newGeneration(gen(9, 5, [3]), 11)).toEqual(gen(11, 5, [9, 3]));
  });
  test("a resync starts: the source keeps the bitmap generation it tracks, else takes a fresh one; the target takes it as its current", () => {
    expect(startResyncSource(gen(9, 5, [3]), 21)).toEqual(gen(9, 5, [3]));
    expect(startResyncSource(gen(9, 0, [3]), 21)).toEqual(gen(9, 21, [3]));
    expect(startResyncTarget(gen(5, 2, [1]), 21)).toEqual(gen(21, 0, [1]));
  });
  test("after a resync the source retires its bitmap generation and the target takes the source's", () => {
    const source = afterResyncSource(gen(9, 5, [3]));
    expect(source).toEqual(gen(9, 0, [5, 3]));
    expect(afterResyncTarget(source)).toEqual(source);
  });
});

describe("split-brain policies", () => {
  const a = (more: Partial<SideView>) => side("a", gen(8, 5), more);
  const b = (more: Partial<SideView>) => side("b", gen(9, 5), more);
  test("disconnect leaves it to the operator", () => {
    expect(resolveSplitBrain(a({ dirty: 0 }), b({ dirty: 4 }), "disconnect")).toBe("disconnect");
  });
  test("discard-my-data on one side makes it the target, whatever the policy", () => {
    expect(resolveSplitBrain(a({ discardMyData: true }), b({}), "disconnect")).toBe("target");
    expect(resolveSplitBrain(a({}), b({ discardMyData: true }), "disconnect")).toBe("source");
  });
  test("discard-zero-changes: the side that wrote nothing gives way; both wrote: disconnect", () => {
    expect(resolveSplitBrain(a({ dirty: 0 }), b({ dirty: 4 }), "discard-zero-changes")).toBe("target");
    expect(resolveSplitBrain(a({ dirty: 1 }), b({ dirty: 4 }), "discard-zero-changes")).toBe("disconnect");
  });
  test("discard-younger-primary: the side promoted last gives way", () => {
    expect(resolveSplitBrain(a({ promotedAt: 20 }), b({ promotedAt: 10 }), "discard-younger-primary")).toBe("target");
    expect(resolveSplitBrain(a({ promotedAt: 10 }), b({ promotedAt: 10 }), "discard-younger-primary")).toBe("disconnect");
  });
  test("discard-least-changes: the side with fewer dirty regions gives way", () => {
    expect(resolveSplitBrain(a({ dirty: 9 }), b({ dirty: 4 }), "discard-least-changes")).toBe("source");
  });
  test("no automatic policy throws away what a primary serves", () => {
    expect(resolveSplitBrain(a({ dirty: 0, primary: true }), b({ dirty: 4 }), "discard-zero-changes")).toBe("disconnect");
    expect(resolveSplitBrain(a({ discardMyData: true, primary: true }), b({}), "disconnect")).toBe("disconnect");
  });
});
