/**
 * The `rescue` extension (spec 03 §6): `finalize_rescue` stores the rescue user's password hash
 * where the ramdisk's rescue tooling reads it (`/etc/ipa-rescue-config/ipa-rescue-password`),
 * marks the machine rescued (`/etc/.rescued`, IPA-master; spec 01 §1 step 8) and stops serving.
 *
 * Under `--protect-host` both files go under the agent's state dir instead: the agent never
 * touches the host's `/etc` (and, like IPA, never `/etc/shadow` at all; the ramdisk's tooling
 * creates the `rescue` user from the file after the agent exits).
 */
import { z } from "zod";
import { CommandExecutionError, InvalidCommandParamsError } from "../api/errors.ts";
import { addSecret } from "../log.ts";
import { hashPassword } from "../rescue/sha256_crypt.ts";
import { command, type CommandSpec } from "./registry.ts";

export interface RescueDeps {
  protectHost: boolean;
  /** `--state-dir`; holds the files instead of /etc under `--protect-host`. */
  stateDir: string;
  /** Stops the API and heartbeats after the current answer. */
  requestStop(): void;
}

export interface RescuePaths {
  passwordFile: string;
  marker: string;
}

/** Where the password hash and the rescue marker go (spec 03 §6; spec 01 §1 step 8). */
export function rescuePaths(options: { protectHost: boolean; stateDir: string }): RescuePaths {
  const base = options.protectHost ? options.stateDir : "/etc";
  return {
    passwordFile: `${base}/ipa-rescue-config/ipa-rescue-password`,
    marker: `${base}/.rescued`,
  };
}

/**
 * `rescue_password` must be a non-empty string (the conductor validates the same before it
 * sends it); a hashed one must also be one crypt(3) field, since the rescue tooling copies it
 * into /etc/shadow, where a newline or ":" would corrupt the line.
 */
function checkPassword(password: string, hashed: boolean): void {
  if (password.trim() === "") {
    throw new InvalidCommandParamsError(
      'Cannot finalize rescue: parameter "rescue_password" is empty',
    );
  }
  if (hashed && !/^\$[0-9a-z]+\$[^\s:]+$/.test(password)) {
    // The value is not echoed: it may be a password sent with the wrong "hashed" flag.
    throw new InvalidCommandParamsError(
      'Cannot finalize rescue: parameter "rescue_password" with "hashed": true is not a ' +
        "crypt(3) hash ($<id>$... without spaces or colons)",
    );
  }
}

/** Writes `text` to `path` through a temporary file and a rename: all or nothing. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(temp, text, { mode: 0o600, createNew: true });
    await Deno.rename(temp, path);
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
}

export function rescueCommands(deps: RescueDeps): CommandSpec[] {
  const paths = rescuePaths(deps);
  return [
    command({
      name: "rescue.finalize_rescue",
      async: false,
      params: z.looseObject({
        // No default: IPA's `rescue_password=""` default can only end in a refusal here.
        rescue_password: z.string({
          error: (issue) =>
            issue.input === undefined
              ? "is required"
              : `must be a string, not ${issue.input === null ? "null" : typeof issue.input}`,
        }),
        hashed: z.boolean().optional().default(false),
      }),
      validate(params) {
        checkPassword(params.rescue_password, params.hashed);
      },
      async run(params, ctx) {
        addSecret(params.rescue_password);
        const hash = params.hashed
          ? params.rescue_password
          : await hashPassword(params.rescue_password);
        try {
          await writeAtomically(paths.passwordFile, `${hash}\n`);
        } catch (err) {
          throw new CommandExecutionError(
            `Cannot write the rescue password to "${paths.passwordFile}": ${
              (err as Error).message
            }`,
            { cause: err },
          );
        }
        ctx.log.info("rescue password hash written", {
          path: paths.passwordFile,
          hashed_by: params.hashed ? "conductor" : "agent",
        });
        try {
          await Deno.writeTextFile(paths.marker, "");
        } catch (err) {
          // IPA-master only logs this: the password is in place, rescue can go on.
          ctx.log.warn(`could not create the rescue marker "${paths.marker}"`, { error: err });
        }
        ctx.log.info("rescue finalized: the API and heartbeats stop after this answer");
        deps.requestStop();
        return null;
      },
    }),
  ];
}
