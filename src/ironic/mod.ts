/**
 * The agent's side of the Ironic lifecycle (spec 01): API client with failover and microversion
 * negotiation, node lookup with the agent token rules, the heartbeat loop, and the advertise
 * address.
 */
export * from "./api_version.ts";
export * from "./advertise.ts";
export * from "./agent_token.ts";
export * from "./client.ts";
export * from "./clock.ts";
export * from "./error_message.ts";
export * from "./errors.ts";
export * from "./heartbeat.ts";
export * from "./lookup.ts";
export * from "./lookup_response.ts";
