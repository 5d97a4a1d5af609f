/**
 * Node-level settings of the burn-in steps (spec 04 §10), read from `node.driver_info` and
 * validated before a tool starts. Operators set them with `baremetal node set --driver-info`,
 * which stores numbers as strings more often than not, so numeric keys accept both forms.
 * A bad value fails with an error naming the key and the value, never a half-started burn-in.
 */
import { z } from "zod";
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";

/** A count of workers or loops: `4` or `"4"`. */
function wholeNumber(min: number) {
  return z.union([z.number().int().min(min), z.string().regex(/^\d+$/)])
    .transform((v) => Number(v))
    .refine((v) => v >= min && Number.isSafeInteger(v), `expected a whole number >= ${min}`);
}

const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A stress-ng duration: seconds, or a number with stress-ng's `s`/`m`/`h`/`d` suffix. Zero is
 * refused: stress-ng would run without end, and every tool the agent runs has a bound.
 */
const duration = z.union([z.number().int(), z.string()])
  .transform((v, ctx) => {
    const match = /^(\d+)([smhd]?)$/.exec(String(v));
    const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2] ?? ""]! : NaN;
    if (!(seconds >= 1) || !Number.isSafeInteger(seconds)) {
      ctx.addIssue({
        code: "custom",
        message: 'expected a duration of at least 1 second (60, "90s", "10m", "2h", "1d")',
      });
      return z.NEVER;
    }
    return { text: String(v), seconds };
  });

/** A file path the tool writes its report to. */
const outputFile = z.string().min(1).refine((v) => !v.includes("\0"), "contains a NUL byte")
  .optional();

/** stress-ng `--vm-bytes`: bytes, with a `b`/`k`/`m`/`g` suffix, or a percentage. */
const vmBytes = z.string().regex(
  /^(\d+[bkmgBKMG]?|\d{1,2}%|100%)$/,
  'expected bytes ("512m", "2g") or a percentage ("98%")',
);

/** `true`/`false`, as JSON or as the strings the CLI stores. */
const flag = z.union([z.boolean(), z.enum(["true", "false", "True", "False"])])
  .transform((v) => v === true || v === "true" || v === "True");

const networkConfig = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  },
  z.object({
    role: z.enum(["writer", "reader"]),
    partner: z.string().min(1).refine((v) => !/\s/.test(v), "contains whitespace"),
  }),
);

export const cpuSettings = z.object({
  agent_burnin_cpu_cpu: wholeNumber(0).default(0),
  agent_burnin_cpu_timeout: duration.prefault(86400),
  agent_burnin_cpu_outputfile: outputFile,
});

export const memorySettings = z.object({
  agent_burnin_vm_vm: wholeNumber(0).default(0),
  "agent_burnin_vm_vm-bytes": vmBytes.default("98%"),
  agent_burnin_vm_timeout: duration.prefault(86400),
  agent_burnin_vm_outputfile: outputFile,
});

export const diskSettings = z.object({
  agent_burnin_fio_disk_loops: wholeNumber(1).default(4),
  agent_burnin_fio_disk_runtime: wholeNumber(0).default(0),
  agent_burnin_fio_disk_outputfile: outputFile,
  agent_burnin_fio_disk_smart_test: flag.default(false),
});

export const networkSettings = z.object({
  agent_burnin_fio_network_runtime: wholeNumber(1).default(21600),
  agent_burnin_fio_network_outputfile: outputFile,
  agent_burnin_fio_network_config: networkConfig.optional(),
  agent_burnin_fio_network_pairing_backend_url: z.string().min(1).optional(),
  agent_burnin_fio_network_pairing_group_name: z.string().min(1).default("ironic.network-burnin"),
  agent_burnin_fio_network_pairing_timeout: wholeNumber(1).default(900),
});

export type CpuSettings = z.output<typeof cpuSettings>;
export type MemorySettings = z.output<typeof memorySettings>;
export type DiskSettings = z.output<typeof diskSettings>;
export type NetworkSettings = z.output<typeof networkSettings>;

/**
 * Parses the step's keys of `node.driver_info` (other keys are ignored). A JSON `null` counts
 * as unset, as `driver_info.get(key, default)` would not treat it, but as operators mean it.
 */
export function readSettings<S extends z.ZodObject>(
  schema: S,
  node: Node,
  step: string,
): z.output<S> {
  const info = node.driver_info ?? {};
  const mine: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    if (info[key] !== undefined && info[key] !== null) mine[key] = info[key];
  }
  const parsed = schema.safeParse(mine);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = String(issue.path[0] ?? "");
  const field = issue.path.length > 1 ? `${key}.${issue.path.slice(1).join(".")}` : key;
  throw new InvalidCommandParamsError(
    `Cannot run ${step}: driver_info ${JSON.stringify(field)} has the invalid value ` +
      `${JSON.stringify(mine[key])}: ${issue.message}`,
  );
}
