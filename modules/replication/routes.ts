/**
 * The replication API under /v1/replication/: the volumes' status, and the
 * operator's commands on one volume (promote, promote with force for a new
 * volume's first generation, demote, connect, disconnect, discard-my-data).
 * A command is handed to the volume's engine; what it refuses shows as a
 * `volume.refused` event and in the status.
 */
import type { RouteSpec } from "../../core/api/routes.ts";
import { problem } from "../../core/api/problem.ts";
import { COMMANDS, type VolumeCommand } from "./messages.ts";

export interface ReplicationHost {
  status(): Record<string, unknown>;
  volumes(): string[];
  command(volume: string, command: VolumeCommand): void;
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
      responses: { 202: "handed to the volume", 401: "no or wrong token", 403: "no token file configured", 404: "no such volume or command" },
      handler: (_c, p) => {
        if (!host.volumes().includes(p.volume!)) return problem(404, `no volume "${p.volume}" on this node`, { known: host.volumes() });
        if (!(COMMANDS as readonly string[]).includes(p.command!)) return problem(404, `no command "${p.command}"`, { known: COMMANDS });
        host.command(p.volume!, p.command as VolumeCommand);
        return Response.json({ volume: p.volume, command: p.command }, { status: 202 });
      },
    },
  ];
}
