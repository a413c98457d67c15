import { describe, expect, test } from "bun:test";
import { delayArgs, lossScript, netemProblem } from "../../lab/lab.ts";

describe("lab netem", () => {
  test("what is accepted", () => {
    expect(netemProblem({ lossPct: 10 })).toBeUndefined();
    expect(netemProblem({ delayMs: 50, jitterMs: 5 })).toBeUndefined();
    expect(netemProblem({ lossPct: 0.25, delayMs: 0 })).toBeUndefined();
    expect(netemProblem({})).toBe("give --loss, --delay or both (or --clear)");
    expect(netemProblem({ jitterMs: 5 })).toBe("--jitter needs --delay");
    expect(netemProblem({ lossPct: -1 })).toContain("--loss -1: expected a percentage from 0 to 100");
    expect(netemProblem({ lossPct: 100.5 })).toContain("from 0 to 100");
    expect(netemProblem({ delayMs: 1.5 })).toContain("--delay 1.5: expected whole milliseconds");
    expect(netemProblem({ delayMs: 10, jitterMs: 20_000 })).toContain("--jitter 20000");
  });

  test("delay as tc netem arguments", () => {
    expect(delayArgs({ delayMs: 50 })).toEqual(["delay", "50ms"]);
    expect(delayArgs({ delayMs: 50, jitterMs: 5 })).toEqual(["delay", "50ms", "5ms"]);
    expect(delayArgs({ lossPct: 5 })).toEqual([]);
  });

  test("loss as an nft chain on the bridge port: a draw in 0.01% steps, or every packet at 100%", () => {
    const rule = (pct: number) => lossScript("hb0-alpha", pct).split("\n").find((l) => l.startsWith("add rule"));
    expect(lossScript("hb0-alpha", 10).split("\n")).toEqual([
      "add table netdev tdl_loss",
      'add chain netdev tdl_loss hb0-alpha { type filter hook ingress device "hb0-alpha" priority 0; policy accept; }',
      "flush chain netdev tdl_loss hb0-alpha",
      "add rule netdev tdl_loss hb0-alpha numgen random mod 10000 < 1000 counter drop",
      "",
    ]);
    expect(rule(0.01)).toBe("add rule netdev tdl_loss hb0-alpha numgen random mod 10000 < 1 counter drop");
    expect(rule(0)).toBe("add rule netdev tdl_loss hb0-alpha numgen random mod 10000 < 0 counter drop");
    expect(rule(100)).toBe("add rule netdev tdl_loss hb0-alpha counter drop");
  });
});
