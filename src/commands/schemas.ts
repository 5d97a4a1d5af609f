/** zod schemas shared by several commands. */
import { z } from "zod";
import type { Node, Port } from "../hardware/manager.ts";

/** The node object the conductor sends: opaque beyond a string `uuid`. */
export const nodeSchema: z.ZodType<Node> = z.looseObject({ uuid: z.string().min(1) }) as z.ZodType<
  Node
>;

export const portsSchema: z.ZodType<Port[]> = z.array(z.record(z.string(), z.unknown()));

/** `{name: version}` as returned in `hardware_manager_version`. */
export const versionMapSchema = z.record(z.string(), z.string());
