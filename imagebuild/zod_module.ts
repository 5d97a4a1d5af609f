/**
 * Entry of the `zod.js` the ramdisk carries next to the agent bundle. The bundle inlines its own
 * copy of zod, but hardware managers (baked into the image or fetched and pinned) import bare
 * `zod`; the launcher's import map points that specifier at this module, so they load offline.
 */
export * from "zod";
export { default } from "zod";
