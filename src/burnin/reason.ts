/** The operator-facing text of an error: an agent error's details without its class title. */
import { AgentError } from "../api/errors.ts";

export function reason(err: unknown): string {
  if (err instanceof AgentError) return err.details || err.message;
  return err instanceof Error ? err.message : String(err);
}
