/**
 * [motd]: the message of the day this node publishes, and a bound on its
 * length. The bound crosses fields, so it is a rule, not the schema's.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { Finding } from "../../../../core/config/problems.ts";
import type { RawConfig } from "../../../../core/config/schema.ts";

export const MotdSchema = Type.Object(
  {
    message: Type.String({ minLength: 1, description: "what GET /v1/motd/ answers (any text)" }),
    max_length: Type.Integer({ minimum: 1, default: 80, description: "the longest message allowed" }),
  },
  { additionalProperties: false },
);

export type MotdRaw = Static<typeof MotdSchema>;

declare module "../../../../core/config/schema.ts" {
  interface ModuleSections {
    motd?: MotdRaw;
  }
}

export function motdRules(c: RawConfig): Finding[] {
  if (!c.motd || c.motd.message.length <= c.motd.max_length) return [];
  return [
    {
      severity: "error",
      path: ["motd", "message"],
      message: `the message is ${c.motd.message.length} characters`,
      expected: `at most max_length (${c.motd.max_length})`,
    },
  ];
}
