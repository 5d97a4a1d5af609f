/**
 * A worked custom hardware manager. Serve this file from a web server you control (or ship it in
 * the ramdisk) and name it in `--hardware-managers` / `ipa-hardware-managers`:
 *
 *   deno task start --hardware-managers https://deploy.example.net/managers/site_manager.ts
 *
 * It ranks above the generic manager (SERVICE_PROVIDER), adds one clean step, and overrides one
 * capability; everything it does not declare falls through to the generic manager.
 */
import { z } from "zod";
import type { HardwareManager, ManagerContext } from "../../src/hardware/manager.ts";
import { SupportLevel } from "../../src/hardware/manager.ts";

export default function createSiteManager(ctx: ManagerContext): HardwareManager {
  return {
    name: "site_manager",
    className: "SiteManager",
    version: "1.0",
    // Claim the machine only where it applies; 0 leaves it to the generic manager.
    evaluateSupport: () => Promise.resolve(SupportLevel.SERVICE_PROVIDER),
    steps: [
      {
        step: "record_asset_tag",
        interface: "deploy",
        clean: { priority: 0, abortable: true },
        argsinfo: { tag: { description: "asset tag to record", required: true } },
        // Validated before the step starts: a missing or empty tag answers 400.
        args: z.object({ tag: z.string().min(1) }),
        run(step) {
          step.log.info("recording asset tag", { tag: step.args.tag });
          return Promise.resolve({ asset_tag: step.args.tag });
        },
      },
    ],
    capabilities: {
      // Sites whose disks need no flushing at power-off can skip `blockdev --flushbufs`.
      async fullSync() {
        await ctx.runner.run("sync", [], { timeoutMs: 60_000 });
      },
    },
  };
}
