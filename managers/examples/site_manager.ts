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
// Type imports only (erased at run time) and bare `zod` (the agent's import map): a pinned
// manager is imported from its verified bytes, so it cannot import other files of its server.
import type { HardwareManager, ManagerContext } from "../../src/hardware/manager.ts";

/** SupportLevel.SERVICE_PROVIDER of src/hardware/manager.ts, inlined for the reason above. */
const SERVICE_PROVIDER = 3;

export default function createSiteManager(ctx: ManagerContext): HardwareManager {
  return {
    name: "site_manager",
    className: "SiteManager",
    version: "1.0",
    // Claim the machine only where it applies; 0 leaves it to the generic manager.
    evaluateSupport: () => Promise.resolve(SERVICE_PROVIDER),
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
