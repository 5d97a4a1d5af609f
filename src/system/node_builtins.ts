/**
 * The `node:` modules the agent uses, loaded on first use: importing any of them makes Deno set
 * up its Node layer, which in an emulated ramdisk costs the agent's start-up over half a second
 * it does not need before an image or a rescue password comes along.
 */

let crypto: Promise<typeof import("node:crypto")> | undefined;
let zlib: Promise<typeof import("node:zlib")> | undefined;

export function nodeCrypto(): Promise<typeof import("node:crypto")> {
  return crypto ??= import("node:crypto");
}

export function nodeZlib(): Promise<typeof import("node:zlib")> {
  return zlib ??= import("node:zlib");
}
