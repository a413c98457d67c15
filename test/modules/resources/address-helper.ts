/**
 * Hosts one address agent in the network namespace it was started in (by
 * `ip netns exec`): its params are argv[2] as JSON; each stdin line is a
 * command, `{"action": "start"}` or `{"close": true}`, and each stdout line
 * the answer (the AgentResult and whether it is renewing the address).
 * Renewals run between commands, as in the daemon. At the end of its input
 * it closes the agent and exits.
 */
import { createAddressAgent } from "../../../modules/resources/agents/address.ts";
import type { AgentAction } from "../../../core/agent.ts";

const ACTION_TIMEOUT_MS = 5000;

const agent = createAddressAgent("vip", JSON.parse(process.argv[2]!));
for await (const line of console) {
  if (!line.trim()) continue;
  const command = JSON.parse(line) as { action?: AgentAction; close?: boolean };
  if (command.close) {
    agent.close();
    console.log(JSON.stringify({ closed: true, renewing: agent.renewing }));
  } else {
    const result = await agent.run(command.action!, { timeoutMs: ACTION_TIMEOUT_MS });
    console.log(JSON.stringify({ ...result, renewing: agent.renewing }));
  }
}
agent.close();
