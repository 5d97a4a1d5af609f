/**
 * Per-phase times of the real-Ironic flow (manage → provide with automated cleaning → deploy
 * → undeploy with cleaning) for each conductor, with the real agent next to the zero-work agent
 * (`tests/harness/zero_work_agent.ts`) on the same conductor release, measured in the same run:
 * the baseline is what the conductor itself costs (its polling, its waits), the ratio what the
 * agent adds on top. `IRONIC_E2E_RELEASES` narrows the conductors as for the tests.
 */

import {
  cannotRunE2e,
  e2eReleases,
  enrollNode,
  type Flow,
  setUpFlow,
  transition,
} from "../harness/flow_fixtures.ts";
import type { IronicRelease } from "../harness/ironic.ts";
import { watchPower } from "../harness/power_watcher.ts";
import { startZeroWorkAgent } from "../harness/zero_work_agent.ts";

export interface FlowRow {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
}

type AgentKind = "real" | "zero-work";

/** One clean → deploy → undeploy flow; returns its phase times in ms. */
async function timeFlow(release: IronicRelease, kind: AgentKind): Promise<Record<string, number>> {
  await using flow: Flow = await setUpFlow(release);
  const node = await enrollNode(flow);
  await using watching = watchPower(flow.client, node.uuid, {
    agent: { apiUrl: flow.ironic.url, blockDevices: [flow.disk.path] },
    logDir: flow.dir,
    maxBoots: 6,
    start: kind === "zero-work" ? startZeroWorkAgent : undefined,
  });
  await transition(flow, watching, node, "manage", "manage", "manageable");
  await transition(flow, watching, node, "provide (cleaning)", "provide", "available");
  await watching.settled();
  const deployed = await transition(flow, watching, node, "deploy", "active", "active");
  if (deployed.last_error) throw new Error(`${kind} deploy failed: ${deployed.last_error}`);
  await watching.settled();
  await transition(flow, watching, node, "undeploy (cleaning)", "deleted", "available");
  await watching.settled();
  if (watching.problems.length > 0) {
    throw new Error(`${kind} flow on Ironic ${release}: ${watching.problems.join("; ")}`);
  }
  return flow.timer.timings;
}

/** Rows for each conductor and phase: real agent (value) vs zero-work agent (baseline). */
export async function benchIronicFlows(): Promise<FlowRow[]> {
  if (cannotRunE2e()) return [];
  const rows: FlowRow[] = [];
  for (const release of e2eReleases()) {
    // Zero-work first: the conductor's start-up caches (chroot pages, python imports) are then
    // warm for the real agent too, so the comparison does not favour the agent.
    const zero = await timeFlow(release, "zero-work");
    const real = await timeFlow(release, "real");
    for (const [phase, ms] of Object.entries(real)) {
      const base = zero[phase];
      if (phase === "start ironic" || base === undefined) continue;
      rows.push({
        metric: `Ironic ${release} flow: ${phase}`,
        value: `${(ms / 1000).toFixed(1)} s`,
        baseline: `${(base / 1000).toFixed(1)} s (zero-work agent)`,
        ratio: (ms / base).toFixed(2),
      });
    }
    const total = (t: Record<string, number>) =>
      Object.entries(t).reduce((n, [k, v]) => k === "start ironic" ? n : n + v, 0);
    rows.push({
      metric: `Ironic ${release} flow: total`,
      value: `${(total(real) / 1000).toFixed(1)} s`,
      baseline: `${(total(zero) / 1000).toFixed(1)} s (zero-work agent)`,
      ratio: (total(real) / total(zero)).toFixed(2),
    });
  }
  return rows;
}

if (import.meta.main) {
  const rows = await benchIronicFlows();
  Deno.stdout.writeSync(
    new TextEncoder().encode(rows.map((r) => Object.values(r).join(" | ")).join("\n") + "\n"),
  );
}
