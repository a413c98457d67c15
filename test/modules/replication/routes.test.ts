import { describe, expect, test } from "bun:test";
import { replicationRoutes } from "../../../modules/replication/routes.ts";
import { formatVolume } from "../../../cmd/volume.ts";
import type { Context } from "hono";

describe("the replication API and CLI", () => {
  const commands: string[] = [];
  const routes = replicationRoutes({
    status: () => ({ volumes: [] }),
    volumes: () => ["data"],
    command: async (v, c) => {
      commands.push(`${v} ${c}`);
      return c === "promote" ? { refused: "the volume is not up to date" } : {};
    },
  });
  const post = routes.find((r) => r.method === "post")!;
  const call = (p: Record<string, string>) => post.handler({} as Context, p) as Promise<Response>;
  test("a command on a volume of this node is carried out, or refused with the engine's reason; an unknown volume or command is a 404 problem", async () => {
    expect((await call({ volume: "data", command: "discard-my-data" })).status).toBe(200);
    const refused = await call({ volume: "data", command: "promote" });
    expect([refused.status, ((await refused.json()) as { detail: string }).detail]).toEqual([409, "promote refused: the volume is not up to date"]);
    expect(commands).toEqual(["data discard-my-data", "data promote"]);
    const unknown = await call({ volume: "logs", command: "promote" });
    expect([unknown.status, ((await unknown.json()) as { known: string[] }).known]).toEqual([404, ["data"]]);
    expect((await call({ volume: "data", command: "explode" })).status).toBe(404);
    expect(post.mutating).toBe(true);
  });
  test("a volume's line: role, connection, disk, what differs, a resync's progress", () => {
    expect(
      formatVolume({
        name: "data",
        role: "secondary",
        connection: "sync-target",
        disk: "inconsistent",
        peerPrimary: true,
        generations: { current: 1, bitmap: 0, history: [] },
        outOfSyncBytes: 3 * 2 ** 20,
        writesInFlight: 0,
        linkErrors: 0,
        resyncedBytes: 0,
        resync: { bytesLeft: 3 * 2 ** 20, bytesPerSecond: 2 ** 20, etaSeconds: 3 },
      }),
    ).toBe("data: secondary, sync-target, disk inconsistent, peer primary, 3.0 MiB out of sync, resync 3.0 MiB left at 1.0 MiB/s, about 3 s");
  });
});
