/** Test commands and the agent token shared by the API handler's tests. */
import { z } from "zod";
import { command } from "../commands/registry.ts";

export const TOKEN = "mrhhc0KIgFjsAVSxdl1aXDiQyLUgMNzsJzsKZ7EKHmU";

/** `test.echo`: a sync command that answers its `text` parameter. */
export const echoCommand = command({
  name: "test.echo",
  async: false,
  params: z.looseObject({ text: z.string() }),
  run: (p) => Promise.resolve(p.text),
});

/** `test.crash`: a sync command that fails with an error no command should throw. */
export const crashCommand = command({
  name: "test.crash",
  async: false,
  params: z.looseObject({}),
  run: () => Promise.reject(new RangeError("boom")),
});
