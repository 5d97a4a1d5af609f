/**
 * The ranked set of active hardware managers: dispatch to the best manager with fall-through,
 * dispatch to all, step-list merging and the version map (spec 04 §3–§6).
 */
import {
  HardwareManagerMethodNotFound,
  HardwareManagerNotFound,
  IncompatibleHardwareMethodError,
} from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type {
  Capabilities,
  CapabilityName,
  Dispatcher,
  HardwareManager,
  StepDefinition,
  StepKind,
} from "./manager.ts";

export interface RankedManager {
  readonly manager: HardwareManager;
  readonly support: number;
}

/** A step as listed by `get_<kind>_steps` (spec 03 §2.1). */
export interface StepJson {
  step: string;
  priority: number;
  interface: string;
  reboot_requested: boolean;
  abortable?: boolean;
  argsinfo?: Record<string, { description: string; required: boolean }>;
}

export interface StepLists {
  steps: Record<string, StepJson[]>;
  hardware_manager_version: Record<string, string>;
}

type Result<K extends CapabilityName> = Awaited<ReturnType<Capabilities[K]>>;

export class HardwareManagers implements Dispatcher {
  #ranked: RankedManager[] = [];

  /** `rank`, then `initialize` (spec 04 §3). */
  async load(candidates: readonly HardwareManager[], log: Logger): Promise<void> {
    await this.rank(candidates, log);
    await this.initialize();
  }

  /** Evaluates support, drops managers at level ≤ 0 and sorts by level (stable). */
  async rank(candidates: readonly HardwareManager[], log: Logger): Promise<void> {
    const ranked: RankedManager[] = [];
    for (const manager of candidates) {
      const support = await manager.evaluateSupport();
      log.info("hardware manager evaluated", {
        manager: manager.className,
        version: manager.version,
        support,
      });
      if (support > 0) ranked.push({ manager, support });
    }
    if (ranked.length === 0) {
      throw new HardwareManagerNotFound("No hardware manager reported support for this machine");
    }
    ranked.sort((a, b) => b.support - a.support);
    this.#ranked = ranked;
  }

  /**
   * Initialises the ranked managers in rank order (the generic one starts RAID arrays and waits
   * for the install device).
   */
  async initialize(): Promise<void> {
    for (const { manager } of this.#ranked) await manager.initialize?.();
  }

  get ranked(): readonly RankedManager[] {
    return this.#ranked;
  }

  async dispatch<K extends CapabilityName>(
    name: K,
    ...args: Parameters<Capabilities[K]>
  ): Promise<Result<K>> {
    for (const { call } of this.#implementations(name)) {
      try {
        return await call(args);
      } catch (err) {
        // "Not me": try the next manager. Anything else (configuration errors included) stops.
        if (err instanceof IncompatibleHardwareMethodError) continue;
        throw err;
      }
    }
    throw new HardwareManagerMethodNotFound(`Could not find method: ${name}`);
  }

  async dispatchAll<K extends CapabilityName>(
    name: K,
    ...args: Parameters<Capabilities[K]>
  ): Promise<Map<string, Result<K>>> {
    const results = new Map<string, Result<K>>();
    for (const { manager, call } of this.#implementations(name)) {
      try {
        results.set(manager.className, await call(args));
      } catch (err) {
        if (err instanceof IncompatibleHardwareMethodError) continue;
        throw err;
      }
    }
    if (results.size === 0) {
      throw new HardwareManagerMethodNotFound(`Could not find method: ${name}`);
    }
    return results;
  }

  /** Managers implementing capability `name`, best first, with a bound caller. */
  *#implementations<K extends CapabilityName>(name: K) {
    for (const { manager } of this.#ranked) {
      const fn = manager.capabilities[name] as
        | ((...a: Parameters<Capabilities[K]>) => Promise<Result<K>>)
        | undefined;
      if (fn) {
        yield {
          manager,
          call: (args: Parameters<Capabilities[K]>) => fn.apply(manager.capabilities, args),
        };
      }
    }
  }

  /** `{name: version}` over all active managers (spec 04 §6). */
  versions(): Record<string, string> {
    return Object.fromEntries(this.#ranked.map(({ manager }) => [manager.name, manager.version]));
  }

  /**
   * The merged step lists for `kind`: for each step name keep the offer of the manager with the
   * highest support, then the higher priority, then the alphabetically first class name
   * (spec 04 §5). Managers without a winning step are left out.
   */
  stepLists(kind: StepKind): StepLists {
    const winners = new Map<string, { ranked: RankedManager; step: StepDefinition }>();
    for (const ranked of this.#ranked) {
      for (const step of ranked.manager.steps) {
        const offer = step[kind];
        if (!offer) continue;
        const current = winners.get(step.step);
        if (!current || beats(ranked, step, current.ranked, current.step, kind)) {
          winners.set(step.step, { ranked, step });
        }
      }
    }
    const steps: Record<string, StepJson[]> = {};
    for (const { ranked, step } of winners.values()) {
      (steps[ranked.manager.className] ??= []).push(toStepJson(step, kind));
    }
    return { steps, hardware_manager_version: this.versions() };
  }

  /** Managers offering step `name` for `kind`, best first (dispatch falls through them). */
  stepCandidates(
    kind: StepKind,
    name: string,
  ): { manager: HardwareManager; step: StepDefinition }[] {
    return this.#ranked.flatMap(({ manager }) =>
      manager.steps
        .filter((s) => s.step === name && s[kind] !== undefined)
        .map((step) => ({ manager, step }))
    );
  }
}

function beats(
  a: RankedManager,
  stepA: StepDefinition,
  b: RankedManager,
  stepB: StepDefinition,
  kind: StepKind,
): boolean {
  if (a.support !== b.support) return a.support > b.support;
  const pa = stepA[kind]!.priority;
  const pb = stepB[kind]!.priority;
  if (pa !== pb) return pa > pb;
  return a.manager.className < b.manager.className;
}

function toStepJson(step: StepDefinition, kind: StepKind): StepJson {
  const offer = step[kind]!;
  const json: StepJson = {
    step: step.step,
    priority: offer.priority,
    interface: step.interface,
    reboot_requested: offer.reboot_requested ?? false,
  };
  if (offer.abortable !== undefined) json.abortable = offer.abortable;
  if (step.argsinfo) json.argsinfo = step.argsinfo;
  return json;
}
