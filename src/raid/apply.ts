/**
 * `raid.apply_configuration` (spec 12 §6), the deploy/service step: validate the given
 * configuration first (so a bad one deletes nothing), optionally delete the existing arrays,
 * then create the new ones.
 */
import { getSkipList } from "../hints/skip_list.ts";
import { softwareLogicalDisks, validateRaidConfig } from "./config.ts";
import { createConfiguration, type RaidOptions } from "./create.ts";
import { deleteConfiguration } from "./delete.ts";

export async function applyConfiguration(
  options: RaidOptions,
  raidConfig: unknown,
  deleteExisting: boolean,
): Promise<unknown> {
  if (softwareLogicalDisks(raidConfig).length > 0) {
    validateRaidConfig(options.node, raidConfig, {
      volumeNamesRequired: getSkipList(options.node).volumeNames.length > 0,
    });
  }
  if (deleteExisting) await deleteConfiguration(options);
  return await createConfiguration(options, raidConfig);
}
