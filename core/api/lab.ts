/**
 * The lab's faults through a node's API, present only when the node runs in a
 * `tandem lab`: the lab starts its nodes with LAB_CONTROL_ENV naming the unix
 * socket of its control (lab/control.ts, a process of the lab in the host's
 * network namespace, so it outlives a node it powers off). These routes pass
 * the request on to that socket: GET /v1/lab/ (the lab's hosts, their faults
 * and the faults there are), POST /v1/lab/hosts/{host}/fault/{kind} and
 * /v1/lab/hosts/{host}/heal, mutating, so behind the admin token like every
 * action. The socket is root's (0600): only what may run `tandem lab fault`
 * reaches it.
 */
import { problem } from "./problem.ts";
import type { RouteSpec } from "./routes.ts";

/** The environment variable by which the lab gives its nodes its control's socket. */
export const LAB_CONTROL_ENV = "TANDEM_LAB_CONTROL";
/** Faults the lab's control carries out (lab/state.ts FAULTS). */
export const LAB_FAULTS = ["power", "kill", "freeze", "isolate"] as const;
/** How long the node waits for the lab's control; a heal answers 202 before it (lab/control.ts HEAL_ANSWER_MS). */
export const LAB_CONTROL_TIMEOUT_MS = 4000;

/** What the control answers on GET /hosts. */
export interface LabView {
  lab: string;
  faults: readonly string[];
  /** `api`: a node's API (and dashboard) URL, null for the client and the real servers. */
  hosts: { name: string; role: string; api: string | null; process: string | null; faults: string[]; linksDown: string[] }[];
}

export function labRoutes(socket: string): RouteSpec[] {
  const pass = async (method: "GET" | "POST", path: string): Promise<Response> => {
    try {
      const res = await fetch(`http://lab${path}`, { method, unix: socket, signal: AbortSignal.timeout(LAB_CONTROL_TIMEOUT_MS) } as RequestInit);
      return new Response(await res.text(), { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
    } catch (e) {
      return problem(502, `the lab's control at ${socket} did not answer: ${(e as Error).message}`);
    }
  };
  const acted = { 200: "done", 202: "healing: the host is started again and waited for", 401: "no or wrong token", 403: "no token file configured", 404: "no such host or fault", 409: "the lab refused (the host runs no process, it is cut off as a whole...)", 502: "the lab's control did not answer" };
  return [
    {
      method: "get",
      path: "/v1/lab/",
      summary: "this node runs in a `tandem lab`: the lab's hosts (nodes, client, real servers) with their process state and injected faults",
      produces: "application/json",
      responses: { 200: "the lab", 502: "the lab's control did not answer" },
      handler: () => pass("GET", "/hosts"),
    },
    {
      method: "post",
      path: "/v1/lab/hosts/{host}/fault/{kind}",
      summary: `inject a fault into a lab host, as \`tandem lab fault HOST KIND\`: ${LAB_FAULTS.join(", ")}`,
      mutating: true,
      produces: "application/json",
      responses: acted,
      handler: (_c, p) => pass("POST", `/fault/${encodeURIComponent(p.host!)}/${encodeURIComponent(p.kind!)}`),
    },
    {
      method: "post",
      path: "/v1/lab/hosts/{host}/heal",
      summary: "mend a lab host, as `tandem lab heal HOST`: links up, a frozen process continued, a killed one started again",
      mutating: true,
      produces: "application/json",
      responses: acted,
      handler: (_c, p) => pass("POST", `/heal/${encodeURIComponent(p.host!)}`),
    },
  ];
}
