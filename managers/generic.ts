/**
 * The generic hardware manager (spec 04 §8): support level GENERIC on every machine. It lists
 * disks and NICs, chooses the install disk, erases metadata and writes images. Steps it offers
 * dispatch their hardware work through `ctx.managers`, so a higher-ranked manager that overrides
 * one capability (say `eraseDevicesMetadata`) takes over that piece of the step.
 */
import { z } from "zod";
import { DeviceNotFound } from "../src/api/errors.ts";
import { eraseDevicesMetadata } from "../src/erase/metadata.ts";
import { eraseBlockDevice } from "../src/erase/block_device.ts";
import { eraseDevices } from "../src/erase/devices.ts";
import type {
  HardwareManager,
  ManagerContext,
  Node,
  StepDefinition,
} from "../src/hardware/manager.ts";
import { SupportLevel } from "../src/hardware/manager.ts";
import { findOsInstallDevice } from "../src/hints/install_device.ts";
import { listBlockDevices } from "../src/inventory/block_devices.ts";
import { collectHardwareInfo } from "../src/inventory/hardware_info.ts";
import { listNetworkInterfaces } from "../src/inventory/network.ts";

export default function createGenericManager(ctx: ManagerContext): HardwareManager {
  const { runner, log, config, managers } = ctx;

  async function getOsInstallDevice(node: Node | null): Promise<string> {
    const device = await findOsInstallDevice(runner, {
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
      run(step) {
        return eraseDevices({
          runner,
          log: step.log,
          node: step.node,
          onlyBlockDevices: config.onlyBlockDevices,
          guardSpecialFilesystems: config.guardSpecialFilesystems,
          fence: config,
          signal: step.signal,
          progress: step.progress,
          eraseBlockDevice: (node, device, eraseCtx) =>
            managers.dispatch("eraseBlockDevice", node, device, eraseCtx),
        });
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
  ];

  return {
    name: "generic_hardware_manager",
    className: "GenericHardwareManager",
    version: "1.2",
    evaluateSupport: () => Promise.resolve(SupportLevel.GENERIC),
    async initialize() {
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
      getOsInstallDevice,
      listHardwareInfo: () =>
        collectHardwareInfo({ runner, log, managers, cmdlinePath: config.cmdlinePath }),
      eraseDevicesMetadata: (node, stepLog) =>
        eraseDevicesMetadata({
          runner,
          log: stepLog,
          node,
          onlyBlockDevices: config.onlyBlockDevices,
          guardSpecialFilesystems: config.guardSpecialFilesystems,
          fence: config,
        }),
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
