/**
 * The generic manager's `inject_files` step (spec 04 §8.2–8.3, spec 08 §12): a deploy step and
 * a service step, both at `inject_files_priority` (default 0) as in IPA-master's
 * `get_deploy_steps` and `get_service_steps`, with IPA's argsinfo. Arguments and
 * `node.properties.inject_files` are validated before the step starts (a 400 naming the item
 * and key); the work is `inject_files.ts`.
 *
 * URL content is fetched with the agent's image HTTP client (`src/image/http_client.ts`): the
 * agent's `cafile`, `certfile` and `keyfile`, and its proxy environment. `verify_ca: false`
 * cannot turn verification off for one request in Deno (see `http_client.ts`); the agent then
 * still verifies, unless it runs with `--unsafely-ignore-certificate-errors`, and says so in the
 * log.
 */
import type { Config } from "../config.ts";
import type { Dispatcher, StepDefinition } from "../hardware/manager.ts";
import { createImageHttp, type TlsOptions } from "../image/http_client.ts";
import type { Runner } from "../system/run.ts";
import { injectFiles } from "./inject_files.ts";
import { INJECT_FILES_ARGSINFO, injectFilesArgs, parseInjectFiles } from "./inject_files_spec.ts";

export interface InjectFilesStepDeps {
  runner: Runner;
  config: Readonly<Config>;
  managers: Dispatcher;
}

async function agentTls(config: Readonly<Config>): Promise<TlsOptions> {
  const tls: TlsOptions = {};
  if (config.cafile) tls.caCerts = [await Deno.readTextFile(config.cafile)];
  if (config.certfile && config.keyfile) {
    tls.cert = await Deno.readTextFile(config.certfile);
    tls.key = await Deno.readTextFile(config.keyfile);
  }
  return tls;
}

export function injectFilesStep(deps: InjectFilesStepDeps): StepDefinition {
  const { runner, config, managers } = deps;
  const priority = config.injectFilesPriority;
  return {
    step: "inject_files",
    interface: "deploy",
    deploy: { priority },
    service: { priority },
    argsinfo: INJECT_FILES_ARGSINFO,
    args: injectFilesArgs,
    validate(args, node) {
      parseInjectFiles(node.properties?.["inject_files"], args["files"]);
    },
    async run(step) {
      const files = parseInjectFiles(step.node.properties?.["inject_files"], step.args["files"]);
      if (files.length && step.args["verify_ca"] === false) {
        step.log.warn(
          "verify_ca=false: Deno cannot turn TLS verification off for one request; " +
            "certificates are still verified unless the agent runs with " +
            "--unsafely-ignore-certificate-errors",
        );
      }
      using http = createImageHttp({ id: "inject_files", urls: [] }, {
        tls: files.length ? await agentTls(config) : {},
      });
      await injectFiles({
        runner,
        log: step.log,
        node: step.node,
        ports: step.ports,
        files,
        fence: config,
        rootDevice: () => managers.dispatch("getOsInstallDevice", step.node),
        fetch: http.fetch,
        timeoutMs: config.imageDownloadConnectionTimeout * 1000,
        retries: config.imageDownloadConnectionRetries,
        retryIntervalMs: config.imageDownloadConnectionRetryInterval * 1000,
        signal: step.signal,
      });
      return null;
    },
  };
}
