/**
 * The erasure settings the conductor copies into `driver_internal_info` before cleaning
 * (spec 09 §1), with the agent's defaults when a key is absent. A present key with the wrong
 * type is an error: silently using a default could skip a secure erase the operator asked for.
 */
import { z } from "zod";
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";

export interface EraseKnobs {
  /** `shred --iterations`. */
  iterations: number;
  /** `shred --zero`. */
  zeroize: boolean;
  /** Fall back to overwriting when a secure erase fails. */
  continueIfSecureEraseFailed: boolean;
  enableNvmeSecureErase: boolean;
  enableAtaSecureErase: boolean;
  /** Parallel workers of `erase_devices`. */
  concurrency: number;
  /** Skip read-only devices instead of failing. */
  skipReadOnly: boolean;
}

const optionalBool = z.boolean().optional();
const schema = z.looseObject({
  agent_erase_devices_iterations: z.number().int().min(0).max(100).optional(),
  agent_erase_devices_zeroize: optionalBool,
  agent_continue_if_secure_erase_failed: optionalBool,
  agent_continue_if_ata_erase_failed: optionalBool,
  agent_enable_nvme_secure_erase: optionalBool,
  agent_enable_ata_secure_erase: optionalBool,
  disk_erasure_concurrency: z.number().int().min(1).max(64).optional(),
  agent_erase_skip_read_only: optionalBool,
});

/** Reads the erasure knobs of `node`; throws naming the key and value when one is malformed. */
export function eraseKnobs(node: Node | null | undefined): EraseKnobs {
  const parsed = schema.safeParse(node?.driver_internal_info ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue?.path[0] ?? "driver_internal_info");
    const value = (node?.driver_internal_info ?? {})[key];
    throw new InvalidCommandParamsError(
      `Cannot erase devices: driver_internal_info.${key} = ${JSON.stringify(value)} is invalid: ${
        issue?.message ?? "unknown reason"
      }`,
    );
  }
  const info = parsed.data;
  return {
    iterations: info.agent_erase_devices_iterations ?? 1,
    zeroize: info.agent_erase_devices_zeroize ?? true,
    continueIfSecureEraseFailed: info.agent_continue_if_secure_erase_failed ??
      info.agent_continue_if_ata_erase_failed ?? false,
    enableNvmeSecureErase: info.agent_enable_nvme_secure_erase ?? true,
    enableAtaSecureErase: info.agent_enable_ata_secure_erase ?? true,
    concurrency: info.disk_erasure_concurrency ?? 1,
    skipReadOnly: info.agent_erase_skip_read_only ?? false,
  };
}
