/** The agent version reported as `agent_version` and by `GET /v1/status`. */
export const AGENT_VERSION = "1.0.0";
