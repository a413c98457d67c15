import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { plan } from "../../../modules/resources/policy.ts";
import { render, toInput, type ScenarioFile } from "./scenario.ts";

const DIR = join(import.meta.dir, "scenarios");
const files = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort();

describe("policy scenarios", () => {
  test("there are at least 40", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });
  for (const file of files) {
    test(file.replace(/\.json$/, ""), () => {
      const s = JSON.parse(readFileSync(join(DIR, file), "utf8")) as ScenarioFile;
      expect(s.description.length).toBeGreaterThan(20);
      const out = plan(toInput(s));
      expect({ actions: out.actions.map(render), notes: out.notes, ...(s.expect.promoted ? { promoted: out.promoted } : {}) }).toEqual(s.expect);
    });
  }
});
