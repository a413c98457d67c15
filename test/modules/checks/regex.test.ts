/** The bounded body matcher (modules/checks/regex.ts): its own thread, a deadline, a fresh thread after one is stopped. */
import { afterAll, describe, expect, test } from "bun:test";
import { RegexMatcher } from "../../../modules/checks/regex.ts";

describe("the body matcher", () => {
  const matcher = new RegexMatcher(200);
  afterAll(() => matcher.close());

  test("answers matches, misses and bad patterns, in the order asked", async () => {
    const answers = await Promise.all([matcher.match("version [0-9]+", "all good: version 42"), matcher.match("^down", "up"), matcher.match("(", "x")]);
    expect(answers.slice(0, 2)).toEqual([{ matched: true }, { matched: false }]);
    expect(answers[2]).toEqual({ error: expect.stringContaining("Invalid regular expression") });
  });

  test("a catastrophic match is stopped at the deadline, those queued behind it are answered, and the thread is made again", async () => {
    const hostile = `${"a".repeat(40)}!`;
    const started = performance.now();
    const [slow, next, again] = await Promise.all([matcher.match("(a+)+$", hostile), matcher.match("a!$", hostile), matcher.match("(x+x+)+y", "x".repeat(5000))]);
    expect(slow).toEqual({ timeout: true });
    expect(next).toEqual({ matched: true });
    expect(again).toEqual({ timeout: true });
    // Two deadlines and two thread starts, not the 2^40 steps of the first match.
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await matcher.match("^a", hostile)).toEqual({ matched: true });
  });
});
