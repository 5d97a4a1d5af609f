/**
 * Loads hardware managers: the generic manager we ship, then every module named in the
 * configuration (`--hardware-managers`, URLs or paths), imported at start-up. A module must
 * default-export a `ManagerFactory`; the object it returns is validated with zod, and a wrong
 * shape stops start-up with an error naming the module and the member.
 *
 * Remote modules load only from hosts in this process's import grant (`import_grant.ts`). A
 * pinned module (`#sha256=`) is fetched once, hashed, and the very bytes that were hashed are
 * imported (as a `data:` module), so a server cannot swap the file between check and import.
 * A pinned module must therefore be self-contained: bare `zod` and `import type` only.
 */
import { z } from "zod";
import { HardwareManagerConfigurationError } from "../api/errors.ts";
import createGenericManager from "../../managers/generic.ts";
import type { HardwareManager, ManagerContext, ManagerFactory } from "./manager.ts";
import { describeIssues } from "../commands/executor.ts";
import { assertImportGranted } from "./import_grant.ts";
import { type ManagerSource, parseManagerSource } from "./manager_source.ts";

export { toSpecifier } from "./manager_source.ts";

/** How long fetching one pinned manager may take. */
const FETCH_TIMEOUT_MS = 60_000;

const offerSchema = z.object({
  priority: z.number().int(),
  abortable: z.boolean().optional(),
  reboot_requested: z.boolean().optional(),
});

const managerSchema = z.object({
  name: z.string().min(1),
  className: z.string().min(1),
  version: z.string().min(1),
  evaluateSupport: z.function(),
  initialize: z.function().optional(),
  steps: z.array(z.object({
    step: z.string().regex(/^[a-z0-9_]+$/, "must be a snake_case step name"),
    interface: z.string().min(1),
    clean: offerSchema.optional(),
    deploy: offerSchema.optional(),
    service: offerSchema.optional(),
    validate: z.function().optional(),
    run: z.function(),
  })),
  capabilities: z.record(z.string(), z.function()),
});

/** Validates what a factory returned; names `source` and the bad member. */
export function validateManager(value: unknown, source: string): HardwareManager {
  const parsed = managerSchema.safeParse(value);
  if (!parsed.success) {
    throw new HardwareManagerConfigurationError(
      `Hardware manager ${source} has the wrong shape: ${describeIssues(parsed.error, "manager")}`,
    );
  }
  return value as HardwareManager;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The module text of a pinned source (HTTP GET or file read). */
async function readModuleBytes(m: ManagerSource): Promise<Uint8Array<ArrayBuffer>> {
  if (m.host === null) return await Deno.readFile(new URL(m.specifier));
  const res = await fetch(m.specifier, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} ${res.statusText}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** What to import: the URL itself, or (pinned) a data: URL of the verified bytes. */
async function verifiedSpecifier(m: ManagerSource): Promise<string> {
  if (m.pin === null) return m.specifier;
  let bytes;
  try {
    bytes = await readModuleBytes(m);
  } catch (err) {
    throw new HardwareManagerConfigurationError(
      `Cannot fetch hardware manager ${m.specifier}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  const actual = await sha256Hex(bytes);
  if (actual !== m.pin) {
    throw new HardwareManagerConfigurationError(
      `Hardware manager ${m.specifier} does not match its pin: expected sha256 ${m.pin}, ` +
        `got ${actual}; refusing to run it`,
    );
  }
  return `data:application/typescript;base64,${bytes.toBase64()}`;
}

async function importFactory(source: string): Promise<ManagerFactory> {
  const m = parseManagerSource(source);
  if (m.host !== null) await assertImportGranted(source, m.host);
  const specifier = await verifiedSpecifier(m);
  let module: { default?: unknown };
  try {
    module = await import(specifier);
  } catch (err) {
    throw new HardwareManagerConfigurationError(
      `Cannot load hardware manager ${source}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  if (typeof module.default !== "function") {
    throw new HardwareManagerConfigurationError(
      `Hardware manager ${source} must default-export a factory function, got ${typeof module
        .default}`,
    );
  }
  return module.default as ManagerFactory;
}

export interface LoadOptions {
  /** Extra manager modules from the configuration. */
  sources: readonly string[];
  context: ManagerContext;
}

/** The generic manager plus every configured one, in configuration order. */
export async function loadManagers(options: LoadOptions): Promise<HardwareManager[]> {
  const managers = [validateManager(await createGenericManager(options.context), "generic")];
  for (const source of options.sources) {
    const factory = await importFactory(source);
    managers.push(validateManager(await factory(options.context), source));
  }
  return managers;
}
