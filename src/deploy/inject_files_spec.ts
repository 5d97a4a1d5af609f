/**
 * What `inject_files` accepts (spec 08 §12, IPA `inject_files._validate_files`): the file list is
 * `node.properties.inject_files` followed by the step's `files` argument, and every item is
 * checked here, before anything is mounted, so a bad item fails the step with
 * `InvalidCommandParamsError` naming the item (`files[1]`, `node.properties.inject_files[0]`) and
 * the key.
 *
 * Stricter than IPA where IPA would fail later or do something unsafe: `path` must be absolute
 * without `.`, `..` or empty components (IPA normalises `..` away and can leave the partition);
 * `content` is required unless `deleted` (IPA fails with a KeyError while writing); a URL must be
 * `http(s)://` and its placeholders must parse; base64 content must decode; a `partition` string
 * is a partition number or a `/dev/` path.
 */
import { z } from "zod";
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { ArgInfo } from "../hardware/manager.ts";
import { parseTemplate } from "./python_format.ts";

/** IPA's `inject_files.ARGSINFO`, word for word. */
export const INJECT_FILES_ARGSINFO: Record<string, ArgInfo> = {
  files: {
    description: "Files to inject, a list of file structures with keys: 'path' " +
      "(path to the file), 'partition' (partition specifier), " +
      "'content' (base64 encoded string), 'mode' (new file mode) and " +
      "'dirmode' (mode for the leaf directory, if created). " +
      "Merged with the values from node.properties[inject_files].",
    required: false,
  },
  verify_ca: {
    description: "Whether to verify TLS certificates. Global agent options " +
      "are used by default.",
    required: false,
  },
};

/** The step's own arguments; the items of `files` are checked by `parseInjectFiles`. */
export const injectFilesArgs = z.looseObject({
  files: z.unknown().optional(),
  verify_ca: z.boolean({ error: "must be true or false" }).nullable().optional(),
});

/** One validated file. */
export interface InjectFile {
  /** Where the item came from, for messages: `files[1]`, `node.properties.inject_files[0]`. */
  readonly source: string;
  /** The absolute path as given (`/etc/hosts`). */
  readonly path: string;
  /** Its components (`["etc", "hosts"]`). */
  readonly components: readonly string[];
  /** A partition number on the install device, a device path, or null to search. */
  readonly partition: number | string | null;
  /** Base64 data or an `http(s)://` URL template; null when deleting. */
  readonly content: string | null;
  readonly deleted: boolean;
  /** `chmod` after writing; null leaves the mode alone (IPA ignores 0 too). */
  readonly mode: number | null;
  /** `chmod` of the leaf directory when this file's write created it. */
  readonly dirmode: number | null;
  /** `chown` ids; null (or -1 as given) leaves it unchanged. */
  readonly owner: number | null;
  readonly group: number | null;
}

const MAX_PATH = 4096;
const MAX_COMPONENT = 255;
/** A device path: `/dev/` and then plain name characters, no `..`. */
const DEVICE_PATH = /^\/dev\/(?!.*\.\.)[A-Za-z0-9._+:/-]+$/;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

const modeSchema = z.int({ error: "must be an integer" }).min(0, { error: "must be 0 or more" })
  .max(0o7777, { error: "must be at most 0o7777 (4095)" });
const idSchema = z.int({ error: "must be an integer" }).min(-1, { error: "must be -1 or more" })
  .max(0xfffffffe, { error: "must be at most 4294967294" });

const itemSchema = z.strictObject({
  path: z.string({ error: "must be a string" }),
  partition: z.union([z.int(), z.string()], { error: "must be an integer or a device path" })
    .nullable().optional(),
  content: z.string({ error: "must be a string" }).nullable().optional(),
  deleted: z.boolean({ error: "must be true or false" }).nullable().optional(),
  mode: modeSchema.optional(),
  dirmode: modeSchema.optional(),
  owner: idSchema.optional(),
  group: idSchema.optional(),
}, { error: "must be an object" });
type RawItem = z.infer<typeof itemSchema>;

/** Python truthiness for the list sources: IPA reads `x or []`. */
function isEmptyValue(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === "") {
    return true;
  }
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && Object.keys(value).length === 0;
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null) return "null";
  return typeof value === "object" ? "object" : typeof value;
}

function pathProblem(path: string): string | null {
  if (!path.startsWith("/")) return `path ${JSON.stringify(path)} must be absolute`;
  if (path.endsWith("/")) return `path ${JSON.stringify(path)}: directories are not supported`;
  if (path.length > MAX_PATH) return `path is longer than ${MAX_PATH} characters`;
  if (path.includes("\0")) return "path must not contain NUL";
  for (const part of path.slice(1).split("/")) {
    if (part === "" || part === "." || part === "..") {
      return `path ${JSON.stringify(path)} must not contain empty, "." or ".." components`;
    }
    if (new TextEncoder().encode(part).length > MAX_COMPONENT) {
      return `path ${JSON.stringify(path)} has a component longer than ${MAX_COMPONENT} bytes`;
    }
  }
  return null;
}

/** IPA `int(partition)` for digit strings; other strings must be device paths. */
function normalisePartition(raw: RawItem["partition"]): number | string | null | Error {
  if (raw === null || raw === undefined || raw === "" || raw === 0) return null;
  if (typeof raw === "number") {
    return raw > 0 ? raw : new Error(`partition ${raw} must be 1 or more`);
  }
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return normalisePartition(Number(trimmed));
  if (!DEVICE_PATH.test(raw)) {
    return new Error(
      `partition ${JSON.stringify(raw)} must be a partition number or a device path under /dev/`,
    );
  }
  return raw;
}

function contentProblem(content: string): string | null {
  if (content.includes("://")) {
    if (!/^https?:\/\//i.test(content)) {
      return `content URL ${JSON.stringify(content.slice(0, 200))} must be http:// or https://`;
    }
    try {
      parseTemplate(content);
    } catch (err) {
      return err instanceof InvalidCommandParamsError ? err.details : String(err);
    }
    return null;
  }
  if (!BASE64.test(content)) return "content is neither a URL nor valid base64";
  try {
    decodeBase64(content);
  } catch {
    return "content is neither a URL nor valid base64";
  }
  return null;
}

/** Decodes base64 content (whitespace allowed, as in Python's `b64decode`). */
export function decodeBase64(content: string): Uint8Array {
  return Uint8Array.fromBase64(content.replace(/\s+/g, ""));
}

function checkItem(source: string, raw: unknown, problems: string[]): InjectFile | null {
  const parsed = itemSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        problems.push(`${source}: unexpected key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`);
      } else {
        const key = issue.path.length ? `.${issue.path.map(String).join(".")}` : "";
        problems.push(`${source}${key} ${issue.message}`);
      }
    }
    return null;
  }
  const item = parsed.data;
  const before = problems.length;
  const pathError = pathProblem(item.path);
  if (pathError) problems.push(`${source}.${pathError}`);
  const partition = normalisePartition(item.partition);
  if (partition instanceof Error) problems.push(`${source}.${partition.message}`);
  const components = item.path.slice(1).split("/");
  if (!pathError && components.length === 1 && partition === null) {
    problems.push(
      `${source}.path ${JSON.stringify(item.path)} in the root directory requires "partition"`,
    );
  }
  const deleted = item.deleted === true;
  const content = item.content ?? null;
  if (deleted && content) {
    problems.push(`${source}: "content" cannot be used with "deleted"`);
  } else if (!deleted && content === null) {
    problems.push(`${source}: "content" is required unless "deleted" is true`);
  } else if (content) {
    const problem = contentProblem(content);
    if (problem) problems.push(`${source}.content: ${problem}`);
  }
  if (problems.length > before) return null;
  const id = (value: number | undefined) => value === undefined || value === -1 ? null : value;
  return {
    source,
    path: item.path,
    components,
    partition: partition as number | string | null,
    content: deleted ? null : content,
    deleted,
    mode: item.mode || null,
    dirmode: item.dirmode || null,
    owner: id(item.owner),
    group: id(item.group),
  };
}

/**
 * The files to inject: `node.properties.inject_files` then the `files` argument. Throws
 * `InvalidCommandParamsError` listing every problem found.
 */
export function parseInjectFiles(fromProperties: unknown, fromArgs: unknown): InjectFile[] {
  const sources: [string, unknown][] = [
    ["node.properties.inject_files", fromProperties],
    ["files", fromArgs],
  ];
  const problems: string[] = [];
  const files: InjectFile[] = [];
  for (const [name, value] of sources) {
    if (isEmptyValue(value)) continue;
    if (!Array.isArray(value)) {
      const what = name === "files" ? "The `files` argument" : "The `inject_files` node property";
      throw new InvalidCommandParamsError(`${what} must be a list, got ${typeName(value)}`);
    }
    value.forEach((raw, index) => {
      const file = checkItem(`${name}[${index}]`, raw, problems);
      if (file) files.push(file);
    });
  }
  if (problems.length) {
    throw new InvalidCommandParamsError(`Validation of files failed: ${problems.join("; ")}`);
  }
  return files;
}
