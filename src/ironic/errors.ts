/**
 * Errors specific to talking to Ironic, refining the `IronicAPIError` family of
 * `src/api/errors.ts` so callers can tell connection failures, conflicts and token rejections
 * apart.
 */
import { HeartbeatError, IronicAPIError } from "../api/errors.ts";

/** Every API URL failed at the connection level (refused, reset, TLS, timeout). */
export class IronicConnectionError extends IronicAPIError {
  override readonly type: string = "IronicConnectionError";
}

/** The heartbeat could not reach any API URL. */
export class HeartbeatConnectionError extends HeartbeatError {
  override readonly type: string = "HeartbeatConnectionError";
}

/** Ironic answered 409 to a heartbeat (node locked); the next heartbeat retries. */
export class HeartbeatConflictError extends HeartbeatError {
  override readonly type: string = "HeartbeatConflictError";
}

/** Ironic answered 400 because the agent token is missing or does not match. */
export class AgentTokenRejectedError extends HeartbeatError {
  override readonly type: string = "AgentTokenRejectedError";
  /** Ironic's decoded error message, e.g. "Invalid or missing agent token received.". */
  readonly ironicMessage: string;

  constructor(details: string, ironicMessage: string, options?: ErrorOptions) {
    super(details, options);
    this.ironicMessage = ironicMessage;
  }
}
