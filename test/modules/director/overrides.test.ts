/** The director's overrides kept across a restart (modules/director/overrides.ts): taken back for the servers still configured. */
import { describe, expect, test } from "bun:test";
import { restoreOverrides } from "../../../modules/director/overrides.ts";
import { MAX_WEIGHT } from "../../../core/config/primitives.ts";

const SERVERS = new Set(["web/198.18.9.101:80", "web/198.18.9.102:80"]);

describe("overrides kept across a restart", () => {
  test("drains and weights of configured servers come back as kept", () => {
    expect(restoreOverrides({ "web/198.18.9.101:80": 0, "web/198.18.9.102:80": MAX_WEIGHT }, SERVERS)).toEqual({
      overrides: { "web/198.18.9.101:80": 0, "web/198.18.9.102:80": MAX_WEIGHT },
      dropped: [],
    });
    expect(restoreOverrides({}, SERVERS)).toEqual({ overrides: {}, dropped: [] });
  });

  test("those of a server or service no longer in the config are dropped and named", () => {
    expect(restoreOverrides({ "web/198.18.9.101:80": 0, "web/198.18.9.103:80": 0, "mail/198.18.9.101:25": 2 }, SERVERS)).toEqual({
      overrides: { "web/198.18.9.101:80": 0 },
      dropped: ["web/198.18.9.103:80", "mail/198.18.9.101:25"],
    });
  });

  test("anything but a record of whole weights from 0 to the bound is refused whole, with where it is wrong", () => {
    expect(restoreOverrides({ "web/198.18.9.101:80": -1 }, SERVERS)).toEqual({ problem: "/web~1198.18.9.101:80: Expected integer to be greater or equal to 0" });
    expect(restoreOverrides({ "web/198.18.9.101:80": 1.5 }, SERVERS)).toMatchObject({ problem: expect.stringContaining("Expected integer") });
    expect(restoreOverrides({ "web/198.18.9.101:80": MAX_WEIGHT + 1 }, SERVERS)).toMatchObject({ problem: expect.stringContaining("less or equal to 65535") });
    expect(restoreOverrides({ "web/198.18.9.101:80": "0" }, SERVERS)).toMatchObject({ problem: expect.stringContaining("Expected integer") });
    expect(restoreOverrides([0], SERVERS)).toEqual({ problem: "/: Expected object" });
    expect(restoreOverrides(null, SERVERS)).toEqual({ problem: "/: Expected object" });
  });
});
