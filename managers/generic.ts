/**
 * The generic hardware manager (spec 04 §8): support level GENERIC on every machine. It lists
 * disks and NICs, chooses the install disk, erases metadata and writes images. Steps it offers
 * dispatch their hardware work through `ctx.managers`, so a higher-ranked manager that overrides
 * one capability (say `eraseDevicesMetadata`) takes over that piece of the step.
 */
import { z } from "zod";
import { DeviceNotFound } from "../src/api/errors.ts";
import { burninSteps } from "../src/burnin/steps.ts";
import { eraseDevicesMetadata } from "../src/erase/metadata.ts";
import { eraseBlockDevice } from "../src/erase/block_device.ts";
import { eraseDevices } from "../src/erase/devices.ts";
import { eraseDevicesExpress } from "../src/erase/express.ts";
import { erasePstore } from "../src/erase/pstore.ts";
import type {
  HardwareManager,
  ManagerContext,
  Node,
  StepDefinition,
} from "../src/hardware/manager.ts";
import { SupportLevel } from "../src/hardware/manager.ts";
import { assertValidNodeHints } from "../src/hints/command_validation.ts";
import { findOsInstallDevice } from "../src/hints/install_device.ts";
import { listBlockDevices } from "../src/inventory/block_devices.ts";
import { collectHardwareInfo } from "../src/inventory/hardware_info.ts";
import { listNetworkInterfaces } from "../src/inventory/network.ts";
import { captureLldp } from "../src/inventory/lldp_capture.ts";
import { cleanUefiNvram, compilePatterns } from "../src/uefi/nvram.ts";
import { applyConfiguration } from "../src/raid/apply.ts";
import { createConfiguration, type RaidOptions } from "../src/raid/create.ts";
import { deleteConfiguration } from "../src/raid/delete.ts";
import { createRaidState } from "../src/raid/state.ts";
import { raidErasureExclusions } from "../src/raid/arrays.ts";
import { assembleArrays } from "../src/raid/assemble.ts";
import { getSkipList } from "../src/hints/skip_list.ts";
import { injectFilesStep } from "../src/deploy/inject_files_step.ts";

function volumeNamesOrNone(node: Node): readonly string[] {
  try {
    return getSkipList(node).volumeNames;
  } catch {
    return [];
  }
}

/**
 * What erasure leaves alone for software RAID the skip list keeps by volume name (spec 12 §5):
 * disk-level erasure skips kept arrays and the holder disks of kept and wiped ones (wiped
 * arrays themselves are erased, as IPA does); metadata erasure skips all of them. An invalid
 * skip list is reported by the erase step itself.
 */
async function raidExclusions(
  runner: ManagerContext["runner"],
  node: Node,
  onlyBlockDevices: readonly string[],
): Promise<{ disks: string[]; metadata: string[] }> {
  const found = await raidErasureExclusions(runner, {
    onlyBlockDevices,
    protectedNames: volumeNamesOrNone(node),
  });
  return {
    disks: [...found.kept, ...found.holders],
    metadata: [...found.kept, ...found.wiped, ...found.holders, ...found.members],
  };
}

export default function createGenericManager(ctx: ManagerContext): HardwareManager {
  const { runner, log, config, managers } = ctx;

  // Software RAID created in this boot steers install-device selection (spec 07 §4).
  const raidState = createRaidState();
  function raidOptions(step: { node: Node; log: typeof log }): RaidOptions {
    return {
      runner,
      log: step.log,
      node: step.node,
      onlyBlockDevices: config.onlyBlockDevices,
      fence: config,
      state: raidState,
    };
  }

  /**
   * What every erase step shares: the machine, the node, the fences, and the devices of RAID
   * volumes the skip list keeps by name (spec 12 §5): `disks` for whole-disk erasure, `metadata`
   * for metadata and express erasure.
   */
  async function eraseScope(node: Node, stepLog: typeof log) {
    const exclusions = await raidExclusions(runner, node, config.onlyBlockDevices);
    const common = {
      runner,
      log: stepLog,
      node,
      onlyBlockDevices: config.onlyBlockDevices,
      guardSpecialFilesystems: config.guardSpecialFilesystems,
      fence: config,
    };
    return { common, exclusions };
  }

  async function getOsInstallDevice(node: Node | null): Promise<string> {
    if (raidState.rootVolume) {
      log.info("Installing onto the software RAID root volume created in this boot", {
        device: raidState.rootVolume,
      });
      return raidState.rootVolume;
    }
    const device = await findOsInstallDevice(runner, {
      excludeDevices: raidState.otherDevices,
      log,
      node,
      onlyBlockDevices: config.onlyBlockDevices,
    });
    return device.name;
  }

  const steps: StepDefinition[] = [
    {
      step: "erase_devices_metadata",
      interface: "deploy",
      clean: { priority: 99, abortable: true },
      deploy: { priority: 0 },
      async run(step) {
        await managers.dispatch("eraseDevicesMetadata", step.node, step.log);
        return null;
      },
    },
    {
      step: "erase_devices",
      interface: "deploy",
      clean: { priority: 10, abortable: true },
      async run(step) {
        const { common, exclusions } = await eraseScope(step.node, step.log);
        return await eraseDevices({
          ...common,
          signal: step.signal,
          progress: step.progress,
          excludeDevices: exclusions.disks,
          eraseBlockDevice: (node, device, eraseCtx) =>
            managers.dispatch("eraseBlockDevice", node, device, eraseCtx),
        });
      },
    },
    {
      step: "erase_devices_express",
      interface: "deploy",
      clean: { priority: 0, abortable: true },
      async run(step) {
        const { common, exclusions } = await eraseScope(step.node, step.log);
        return await eraseDevicesExpress({
          ...common,
          signal: step.signal,
          excludeDevices: exclusions.metadata,
        });
      },
    },
    {
      step: "erase_pstore",
      interface: "deploy",
      clean: { priority: 0, abortable: true },
      async run(step) {
        await erasePstore(runner, { log: step.log, protectHost: config.protectHost });
        return null;
      },
    },
    {
      step: "clean_uefi_nvram",
      interface: "deploy",
      clean: { priority: 0, abortable: true },
      deploy: { priority: 0 },
      argsinfo: {
        match_patterns: {
          description: "A list of regular expressions to match against UEFI boot record " +
            "device paths; matching records are removed. Default: ^HD\\(, shim.*\\.efi, " +
            "grub.*\\.efi (case-insensitive search).",
          required: false,
        },
      },
      args: z.looseObject({
        // Bounded: the patterns come from the request and run against every NVRAM entry.
        match_patterns: z.array(z.string().max(256)).max(32).nullable().optional(),
      }).superRefine((args, ctx) => {
        try {
          compilePatterns(args.match_patterns ?? []);
        } catch (err) {
          ctx.addIssue({ code: "custom", path: ["match_patterns"], message: String(err) });
        }
      }),
      async run(step) {
        await cleanUefiNvram(runner, {
          log: step.log,
          protectHost: config.protectHost,
          matchPatterns: step.args.match_patterns as string[] | null | undefined,
        });
        return null;
      },
    },
    {
      step: "delete_configuration",
      interface: "raid",
      clean: { priority: 0, abortable: true },
      service: { priority: 0, abortable: true },
      async run(step) {
        await deleteConfiguration(raidOptions(step));
        return null;
      },
    },
    {
      step: "create_configuration",
      interface: "raid",
      clean: { priority: 0, abortable: true },
      service: { priority: 0, abortable: true },
      run(step) {
        return createConfiguration(raidOptions(step), step.node.target_raid_config);
      },
    },
    {
      step: "apply_configuration",
      interface: "raid",
      deploy: { priority: 0 },
      service: { priority: 0 },
      argsinfo: {
        raid_config: { description: "The RAID configuration to apply.", required: true },
        delete_existing: {
          description: "Setting this to 'True' indicates to delete existing RAID " +
            "configuration prior to creating the new configuration. Default value is 'True'.",
          required: false,
        },
      },
      args: z.looseObject({
        raid_config: z.record(z.string(), z.unknown()),
        delete_existing: z.boolean().optional(),
      }),
      run(step) {
        return applyConfiguration(
          raidOptions(step),
          step.args.raid_config,
          step.args.delete_existing !== false,
        );
      },
    },
    {
      step: "write_image",
      interface: "deploy",
      deploy: { priority: 0 },
      service: { priority: 0 },
      args: z.looseObject({
        image_info: z.record(z.string(), z.unknown()),
        configdrive: z.string().nullable().optional(),
      }),
      validate(_args, node) {
        assertValidNodeHints(node, "write the image");
      },
      async run(step) {
        const message = await ctx.images.prepareImage({
          node: step.node,
          imageInfo: step.args.image_info,
          configdrive: step.args.configdrive ?? null,
          log: step.log,
          signal: step.signal,
          progress: step.progress,
        });
        // The step returns what `standby.prepare_image` would (spec 04 §8.5).
        return { result: `prepare_image: ${message}` };
      },
    },
    injectFilesStep({ runner, config, managers }),
    ...burninSteps({ runner, fence: config, managers }),
  ];

  return {
    name: "generic_hardware_manager",
    className: "GenericHardwareManager",
    version: "1.2",
    evaluateSupport: () => Promise.resolve(SupportLevel.GENERIC),
    async initialize() {
      // As IPA: arrays are started before disks are listed (spec 12 §4, §7).
      await assembleArrays(runner, { log, fence: config });
      await managers.dispatch("waitForDisks", null);
    },
    steps,
    capabilities: {
      listBlockDevices: (options) =>
        listBlockDevices(runner, {
          includePartitions: options?.includePartitions ?? false,
          onlyBlockDevices: config.onlyBlockDevices,
        }),
      listNetworkInterfaces: () => listNetworkInterfaces(runner, log),
      collectLldpData: (names) =>
        captureLldp(runner, names, { log, timeoutMs: config.lldpTimeout * 1000 }),
      getOsInstallDevice,
      listHardwareInfo: () =>
        collectHardwareInfo({
          runner,
          log,
          managers,
          cmdlinePath: config.cmdlinePath,
          collectLldp: config.collectLldp,
        }),
      eraseDevicesMetadata: async (node, stepLog) => {
        const { common, exclusions } = await eraseScope(node, stepLog);
        return await eraseDevicesMetadata({ ...common, excludeDevices: exclusions.metadata });
      },
      eraseBlockDevice: (node, device, eraseCtx) =>
        eraseBlockDevice(runner, node, device, eraseCtx),
      async fullSync() {
        await runner.run("sync", [], { timeoutMs: 120_000 });
        await runner.run("tee", ["/proc/sys/vm/drop_caches"], { input: "3", timeoutMs: 10_000 })
          .catch((err) => log.warn("could not drop caches", { error: err }));
        const disks = await managers.dispatch("listBlockDevices", {});
        for (const disk of disks) {
          await runner.run("blockdev", ["--flushbufs", disk.name], { timeoutMs: 60_000 })
            .catch((err) => log.warn("could not flush buffers", { device: disk.name, error: err }));
        }
      },
      async waitForDisks(node) {
        // spec 04 §9: try get_os_install_device up to disk_wait_attempts times.
        for (let attempt = 1; attempt <= config.diskWaitAttempts; attempt++) {
          try {
            const device = await managers.dispatch("getOsInstallDevice", node);
            log.info("install device available", { device, attempt });
            return;
          } catch (err) {
            if (!(err instanceof DeviceNotFound)) throw err;
            if (attempt === config.diskWaitAttempts) {
              log.warn("no install device found; continuing", { error: err.details });
              return;
            }
            await new Promise((r) => setTimeout(r, config.diskWaitDelay * 1000));
          }
        }
      },
    },
  };
}
