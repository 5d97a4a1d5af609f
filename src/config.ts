/**
 * Agent configuration (spec 10), the public entry point. One table of options
 * (`config/options.ts`) drives everything: the command-line parser, the kernel-parameter and
 * config-file names, the zod schema that turns raw strings into the typed `Config`, and the README
 * table (`describeOptions`).
 *
 * Precedence, lowest first (spec 10 §1): built-in defaults < kernel parameters (`ipa-*`) < config
 * files < command-line flags. `ipa-debug` beats all of them, because IPA applies it with
 * `set_override`. `resolveConfig` is the pure core; `loadConfig` adds the reading.
 */
import { ConfigError } from "./api/errors.ts";
import { parseCommandLine } from "./config/command_line.ts";
import { defaultConfig } from "./config/defaults.ts";
import { type DefaultConfigFiles, readConfigFile, readDefaultConfigFiles } from "./config/files.ts";
import { readKernelParams } from "./config/kernel_cmdline.ts";
import { resolveConfig, type ResolveOptions, warningSink } from "./config/resolve.ts";
import { addSecret } from "./log.ts";
import type { Runner } from "./system/run.ts";

export { parseCommandLine } from "./config/command_line.ts";
export { defaultConfig } from "./config/defaults.ts";
export { describeOptions, type OptionDescription } from "./config/describe.ts";
export type { ConfigFileSource } from "./config/files.ts";
export { parseKernelCmdline, readKernelParams } from "./config/kernel_cmdline.ts";
export { type ConfigSources, resolveConfig, type ResolveOptions } from "./config/resolve.ts";

export interface Config {
  // --- Ironic API (spec 01) ---
  /** `api_url`: Ironic API URLs, comma-separated on input; trailing "/" stripped; empty = none. */
  apiUrl: string[];
  globalRequestId: string | null;
  ironicApiVersion: string | null;
  httpRequestTimeout: number;
  lookupTimeout: number;
  lookupInterval: number;
  insecure: boolean;
  cafile: string | null;
  certfile: string | null;
  keyfile: string | null;
  agentToken: string | null;
  // --- agent API and advertise address ---
  listenHost: string;
  listenPort: number;
  listenTls: boolean;
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  enableAutoTls: boolean;
  autoTlsAllowedClockSkew: number;
  tlsMinVersion: "1.2" | "1.3";
  tlsCipherSuites: string | null;
  tlsCertificateCurve: "p256" | "p384" | "p521";
  advertiseHost: string | null;
  advertisePort: number;
  advertiseProtocol: "http" | "https";
  ipLookupAttempts: number;
  ipLookupSleep: number;
  networkInterface: string | null;
  // --- inspection (spec 06) ---
  inspectionCallbackUrl: string | null;
  /** null when unset: `default,logs`, and inspection only with a callback URL (spec 06 §1). */
  inspectionCollectors: string | null;
  inspectionDhcpWaitTimeout: number;
  inspectionDhcpAllInterfaces: boolean;
  lldpTimeout: number;
  collectLldp: boolean;
  // --- hardware ---
  hardwareInitializationDelay: number;
  diskWaitAttempts: number;
  diskWaitDelay: number;
  ntpServer: string | null;
  failIfClockNotSet: boolean;
  enableVlanInterfaces: string;
  guardSpecialFilesystems: boolean;
  // --- images (spec 08) ---
  imageServerUser: string | null;
  imageServerPassword: string | null;
  imageServerAuthStrategy: "noauth" | "http_basic";
  imageDownloadConnectionTimeout: number;
  imageDownloadConnectionRetries: number;
  imageDownloadConnectionRetryInterval: number;
  imageDownloadMaxDuration: number;
  md5Enabled: boolean;
  disableDeepImageInspection: boolean;
  permittedImageFormats: string[];
  configDriveRebuild: boolean;
  ignoreBootloaderFailure: boolean | null;
  enableBiosBootloaderInstall: boolean;
  injectFilesPriority: number;
  // --- this agent's own options ---
  /** Run without Ironic (no lookup, no heartbeat). */
  standalone: boolean;
  debug: boolean;
  /** Log what power-off/reboot/NVRAM/hwclock/BMC changes would do; only `sync`. */
  protectHost: boolean;
  /** When non-empty, the only block devices the agent lists, matches, writes or erases. */
  onlyBlockDevices: string[];
  /** Extra hardware-manager modules (URLs or paths), imported at start-up. */
  hardwareManagers: string[];
  /** Where the agent keeps state files (certificates, rescue password under --protect-host). */
  stateDir: string;
  /** Config file that was read, if any. */
  configFile: string | null;
  /** Path of the kernel command line (overridable for tests). */
  cmdlinePath: string;
}

export interface LoadConfigOptions extends ResolveOptions {
  argv: readonly string[];
  runner: Runner;
  /** Where to look when no `--config-file` is given (tests point these at temporary files). */
  defaultFiles?: DefaultConfigFiles;
}

/**
 * Reads the command line, the kernel parameters and the config files, and resolves them. Also
 * registers the token and image-server password with the logger so no log line shows them.
 * `configFile` in the result is the first config file read (`--config-file` when given).
 */
export async function loadConfig(options: LoadConfigOptions): Promise<Config> {
  const warn = warningSink(options);
  const cli = parseCommandLine(options.argv);
  const cmdlineFlag = cli["cmdline-path"];
  const cmdlinePath = typeof cmdlineFlag === "string" ? cmdlineFlag : defaultConfig().cmdlinePath;
  const kernel = await readKernelParams(options.runner, cmdlinePath);
  if (kernel === null && typeof cmdlineFlag === "string") {
    throw new ConfigError(`Cannot read the kernel command line from "${cmdlinePath}"`);
  }
  if (kernel === null) warn(`Cannot read ${cmdlinePath}; no kernel parameters used`);
  const configFile = cli["config-file"];
  const files = typeof configFile === "string"
    ? [await readConfigFile(configFile)]
    : await readDefaultConfigFiles(options.defaultFiles);
  const config = resolveConfig({ kernel: kernel ?? {}, files, cli }, { onWarning: warn });
  addSecret(config.agentToken);
  addSecret(config.imageServerPassword);
  return { ...config, configFile: files[0]?.path ?? null };
}
