/**
 * The replication API under /v1/replication/: the volumes' status, and the
 * operator's commands on one volume (promote, promote with force for a new
 * volume's first generation, demote, connect, disconnect, discard-my-data).
 * A command is carried out by the volume's engine, or refused with its
 * reason (409; also a `volume.refused` event).
 */
import type { RouteSpec } from "../../core/api/routes.ts";
import { problem } from "../../core/api/problem.ts";
import { COMMANDS, type VolumeCommand } from "./volume.ts";

export interface ReplicationHost {
  status(): Record<string, unknown>;
  volumes(): string[];
  command(volume: string, command: VolumeCommand): Promise<{ refused?: string }>;
}

export function replicationRoutes(host: ReplicationHost): RouteSpec[] {
  return [
    {
      method: "get",
      path: "/volumes",
      summary: "each volume on this node: role, connection, disk state, generations, out-of-sync bytes, resync progress",
      produces: "application/json",
      responses: { 200: "status" },
      handler: () => Response.json(host.status()),
    },
    {
      method: "post",
      path: "/volumes/{volume}/{command}",
      summary: `a command on a volume: ${COMMANDS.join(", ")}`,
      mutating: true,
      produces: "application/json",
      responses: { 200: "done", 401: "no or wrong token", 403: "no token file configured", 404: "no such volume or command", 409: "the volume refused (not up to date, the peer is primary, writes under way...)" },
      handler: async (_c, p) => {
        if (!host.volumes().includes(p.volume!)) return problem(404, `no volume "${p.volume}" on this node`, { known: host.volumes() });
        if (!(COMMANDS as readonly string[]).includes(p.command!)) return problem(404, `no command "${p.command}"`, { known: COMMANDS });
        const { refused } = await host.command(p.volume!, p.command as VolumeCommand);
        if (refused !== undefined) return problem(409, `${p.command} refused: ${refused}`, { volume: p.volume });
        return Response.json({ volume: p.volume, command: p.command });
      },
    },
  ];
}
