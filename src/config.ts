/**
 * Agent configuration (spec 10). One table of options (`OPTIONS`) drives everything: the
 * command-line parser, the kernel-parameter and config-file names, the zod schema that turns raw
 * strings into the typed `Config`, and the README table (`describeOptions`).
 *
 * Precedence, lowest first (spec 10 §1): built-in defaults < kernel parameters (`ipa-*`) < config
 * files < command-line flags. `ipa-debug` beats all of them, because IPA applies it with
 * `set_override`. `resolveConfig` is the pure core; `loadConfig` adds the reading.
 */
import { z } from "zod";
import { ConfigError } from "./api/errors.ts";
import { type IniDocument, parseIni } from "./config_ini.ts";
import { addSecret, log } from "./log.ts";
import type { Runner } from "./system/run.ts";
import { readSystemFile } from "./system/sysfs.ts";

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
  inspectionCollectors: string;
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

/** Built-in defaults (spec 10 §2), before kernel parameters, files and flags. */
export function defaultConfig(): Config {
  return {
    apiUrl: [],
    globalRequestId: null,
    ironicApiVersion: null,
    httpRequestTimeout: 30,
    lookupTimeout: 600,
    lookupInterval: 1,
    insecure: false,
    cafile: null,
    certfile: null,
    keyfile: null,
    agentToken: null,
    listenHost: "::",
    listenPort: 9999,
    listenTls: false,
    tlsCertFile: null,
    tlsKeyFile: null,
    enableAutoTls: true,
    autoTlsAllowedClockSkew: 3600,
    tlsMinVersion: "1.2",
    tlsCipherSuites: null,
    tlsCertificateCurve: "p384",
    advertiseHost: null,
    advertisePort: 9999,
    advertiseProtocol: "http",
    ipLookupAttempts: 6,
    ipLookupSleep: 10,
    networkInterface: null,
    inspectionCallbackUrl: null,
    inspectionCollectors: "default,logs",
    inspectionDhcpWaitTimeout: 60,
    inspectionDhcpAllInterfaces: false,
    lldpTimeout: 30,
    collectLldp: false,
    hardwareInitializationDelay: 0,
    diskWaitAttempts: 10,
    diskWaitDelay: 3,
    ntpServer: null,
    failIfClockNotSet: false,
    enableVlanInterfaces: "",
    guardSpecialFilesystems: true,
    imageServerUser: null,
    imageServerPassword: null,
    imageServerAuthStrategy: "noauth",
    imageDownloadConnectionTimeout: 60,
    imageDownloadConnectionRetries: 9,
    imageDownloadConnectionRetryInterval: 10,
    imageDownloadMaxDuration: 0,
    md5Enabled: true,
    disableDeepImageInspection: false,
    permittedImageFormats: ["raw", "gpt", "qcow2"],
    configDriveRebuild: false,
    ignoreBootloaderFailure: null,
    enableBiosBootloaderInstall: false,
    injectFilesPriority: 0,
    standalone: false,
    debug: false,
    protectHost: false,
    onlyBlockDevices: [],
    hardwareManagers: [],
    stateDir: "/run/ironic-python-agent",
    configFile: null,
    cmdlinePath: "/proc/cmdline",
  };
}

// ---------------------------------------------------------------------------------------------
// Value types. Every source delivers strings (a bare boolean flag becomes "true"), so each type is
// a zod schema from string to the typed value, plus the words an error message puts after
// "expected".

interface ValueType<T> {
  readonly schema: z.ZodType<T, string>;
  readonly expected: string;
  /** A bare command-line flag (`--insecure`) means true, and `--no-insecure` false. */
  readonly boolean?: boolean;
}

const TRUE_WORDS: readonly string[] = ["true", "1", "yes", "on"];
const FALSE_WORDS: readonly string[] = ["false", "0", "no", "off"];

function bool(): ValueType<boolean> {
  return {
    boolean: true,
    expected: "a boolean (true/false, 1/0, yes/no, on/off)",
    schema: z.string().trim().toLowerCase()
      .refine((word) => TRUE_WORDS.includes(word) || FALSE_WORDS.includes(word))
      .transform((word) => TRUE_WORDS.includes(word)),
  };
}

function integer(min: number, max?: number): ValueType<number> {
  return {
    expected: max === undefined
      ? `an integer of at least ${min}`
      : `an integer from ${min} to ${max}`,
    schema: z.string().trim().regex(/^[+-]?\d+$/).transform(Number)
      .pipe(z.number().int().min(min).max(max ?? Number.MAX_SAFE_INTEGER)),
  };
}

function seconds(): ValueType<number> {
  return {
    expected: "a number of seconds, 0 or more",
    schema: z.string().trim().regex(/^\+?(\d+(\.\d*)?|\.\d+)$/).transform(Number)
      .pipe(z.number().min(0)),
  };
}

function oneOf<const T extends string>(values: readonly [T, ...T[]]): ValueType<T> {
  return {
    expected: `one of ${values.join(", ")}`,
    schema: z.string().trim().toLowerCase().pipe(z.enum(values)),
  };
}

/** Any string, trimmed; an empty one is allowed. */
function text(): ValueType<string> {
  return { expected: "a string", schema: z.string().trim() };
}

function nonEmptyText(): ValueType<string> {
  return { expected: "a non-empty string", schema: z.string().trim().min(1) };
}

/** An empty value means "none", as an empty option does in oslo.config files. */
function orNull<T>(type: ValueType<T>): ValueType<T | null> {
  return {
    ...type,
    expected: `${type.expected}, or empty for none`,
    schema: z.union([z.string().trim().length(0).transform(() => null), type.schema]),
  };
}

/** Items of a comma-separated list: trimmed, empty ones dropped. */
function splitList(raw: string): string[] {
  return raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

function list(item: z.ZodType<string, string>, expected: string): ValueType<string[]> {
  return { expected, schema: z.string().transform(splitList).pipe(z.array(item)) };
}

/** An Ironic or inspection endpoint: `mdns` or an http(s) URL (IPA strips trailing "/"). */
function isEndpoint(value: string): boolean {
  if (value === "mdns") return true;
  return /^https?:\/\/[^/]/i.test(value) && URL.canParse(value);
}

const ENDPOINTS_EXPECTED = 'comma-separated http(s) URLs, or "mdns"';

function endpointList(): ValueType<string[]> {
  const item = z.string().transform((url) => url.replace(/\/+$/, "")).pipe(
    z.string().refine(isEndpoint),
  );
  return list(item, ENDPOINTS_EXPECTED);
}

/** Kept as one string (consumers split it), but checked like `api_url`. */
function endpointText(): ValueType<string> {
  return {
    expected: ENDPOINTS_EXPECTED,
    schema: z.string().trim().refine((raw) =>
      splitList(raw).every((url) => isEndpoint(url.replace(/\/+$/, "")))
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// The option table.

interface OptionDef<K extends keyof Config = keyof Config> {
  readonly key: K;
  /** Spec 10 name: the config-file key and, with "-" for "_", the command-line flag. */
  readonly option: string;
  /** Kernel (or virtual-media) parameter that supplies the option, if any. */
  readonly kernel: string | null;
  readonly type: ValueType<Config[K]>;
  /** One line for the README and errors. */
  readonly description: string;
  /** Never shown in error messages. */
  readonly secret?: boolean;
  /** Read only from the command line: it says where the other sources are. */
  readonly cliOnly?: boolean;
  /** The kernel parameter beats config files and flags (IPA's `set_override` for ipa-debug). */
  readonly kernelWins?: boolean;
  /** Deprecated config-file spellings, as `[section] key`. */
  readonly fileAliases?: readonly string[];
}

/** Ties each entry's value type to its `Config` field. */
function option<K extends keyof Config>(def: OptionDef<K>): OptionDef<K> {
  return def;
}

const OPTIONS = [
  // --- Ironic API (spec 01) ---
  option({
    key: "apiUrl",
    option: "api_url",
    kernel: "ipa-api-url",
    type: endpointList(),
    description: "Ironic API URL(s), comma-separated, or `mdns` to discover it",
  }),
  option({
    key: "globalRequestId",
    option: "global_request_id",
    kernel: "ipa-global-request-id",
    type: orNull(text()),
    description: "Request ID sent to Ironic as `X-OpenStack-Request-ID`",
  }),
  option({
    key: "ironicApiVersion",
    option: "ironic_api_version",
    kernel: "ipa-ironic-api-version",
    type: orNull({
      expected: 'a version "X.Y"',
      schema: z.string().trim().regex(/^\d+\.\d+$/),
    }),
    description: "Ironic API version to assume (`X.Y`) instead of asking the API",
  }),
  option({
    key: "httpRequestTimeout",
    option: "http_request_timeout",
    kernel: "ipa-http-request-timeout",
    type: seconds(),
    description: "Timeout of each request to Ironic, in seconds",
  }),
  option({
    key: "lookupTimeout",
    option: "lookup_timeout",
    kernel: "ipa-lookup-timeout",
    type: seconds(),
    description: "How long to keep trying the lookup, in seconds",
  }),
  option({
    key: "lookupInterval",
    option: "lookup_interval",
    kernel: "ipa-lookup-interval",
    type: seconds(),
    description: "Initial delay between lookup attempts, in seconds (it backs off)",
  }),
  option({
    key: "insecure",
    option: "insecure",
    kernel: "ipa-insecure",
    type: bool(),
    description: "Do not verify TLS certificates on outbound connections",
  }),
  option({
    key: "cafile",
    option: "cafile",
    kernel: null,
    type: orNull(text()),
    description: "CA bundle for outbound TLS (default: the system trust store)",
  }),
  option({
    key: "certfile",
    option: "certfile",
    kernel: null,
    type: orNull(text()),
    description: "Client certificate for outbound TLS",
  }),
  option({
    key: "keyfile",
    option: "keyfile",
    kernel: null,
    type: orNull(text()),
    description: "Client certificate key for outbound TLS",
  }),
  option({
    key: "agentToken",
    option: "agent_token",
    kernel: "ipa-agent-token",
    // Tokens travel in URLs and JSON; anything else is a paste error worth catching at start-up.
    type: orNull({
      expected: "printable ASCII characters without spaces",
      schema: z.string().trim().regex(/^[\x21-\x7e]+$/),
    }),
    secret: true,
    description: "Pregenerated agent token (virtual-media boots)",
  }),
  // --- agent API and advertised address (spec 01 §7, §8) ---
  option({
    key: "listenHost",
    option: "listen_host",
    kernel: "ipa-listen-host",
    type: nonEmptyText(),
    description: "Address the agent API listens on",
  }),
  option({
    key: "listenPort",
    option: "listen_port",
    kernel: "ipa-listen-port",
    type: integer(1, 65535),
    description: "Port the agent API listens on",
  }),
  option({
    key: "listenTls",
    option: "listen_tls",
    kernel: null,
    type: bool(),
    description: "Serve the agent API over TLS with `tls_cert_file` and `tls_key_file`",
  }),
  option({
    key: "tlsCertFile",
    option: "tls_cert_file",
    kernel: null,
    type: orNull(text()),
    fileAliases: ["[ssl] cert_file"],
    description: "Certificate for `listen_tls` (also read from the deprecated `[ssl] cert_file`)",
  }),
  option({
    key: "tlsKeyFile",
    option: "tls_key_file",
    kernel: null,
    type: orNull(text()),
    fileAliases: ["[ssl] key_file"],
    description: "Key for `listen_tls` (also read from the deprecated `[ssl] key_file`)",
  }),
  option({
    key: "enableAutoTls",
    option: "enable_auto_tls",
    kernel: null,
    type: bool(),
    description: "Serve HTTPS with a generated certificate when Ironic supports it",
  }),
  option({
    key: "autoTlsAllowedClockSkew",
    option: "auto_tls_allowed_clock_skew",
    kernel: null,
    type: seconds(),
    description: "Seconds the generated certificate's start time is moved back",
  }),
  option({
    key: "tlsMinVersion",
    option: "tls_min_version",
    kernel: "ipa-tls-min-version",
    type: oneOf(["1.2", "1.3"]),
    description: "Minimum TLS version, inbound and outbound",
  }),
  option({
    key: "tlsCipherSuites",
    option: "tls_cipher_suites",
    kernel: "ipa-tls-cipher-suites",
    type: orNull(text()),
    description: "OpenSSL cipher list for TLS 1.2 (default: ECDHE with AES-GCM)",
  }),
  option({
    key: "tlsCertificateCurve",
    option: "tls_certificate_curve",
    kernel: "ipa-tls-certificate-curve",
    type: oneOf(["p256", "p384", "p521"]),
    description: "Elliptic curve of the generated certificate",
  }),
  option({
    key: "advertiseHost",
    option: "advertise_host",
    kernel: "ipa-advertise-host",
    type: orNull(text()),
    description: "Address sent to Ironic in the callback URL (default: detected)",
  }),
  option({
    key: "advertisePort",
    option: "advertise_port",
    kernel: "ipa-advertise-port",
    type: integer(1, 65535),
    description: "Port sent to Ironic in the callback URL",
  }),
  option({
    key: "advertiseProtocol",
    option: "advertise_protocol",
    kernel: "ipa-advertise-protocol",
    type: oneOf(["http", "https"]),
    description: "Scheme of the callback URL (automatic TLS forces `https`)",
  }),
  option({
    key: "ipLookupAttempts",
    option: "ip_lookup_attempts",
    kernel: "ipa-ip-lookup-attempts",
    type: integer(1),
    description: "Rounds of route lookups when detecting the advertised address",
  }),
  option({
    key: "ipLookupSleep",
    option: "ip_lookup_sleep",
    kernel: "ipa-ip-lookup-timeout", // sic: IPA's kernel name differs from the option name
    type: seconds(),
    description: "Seconds between those rounds",
  }),
  option({
    key: "networkInterface",
    option: "network_interface",
    kernel: "ipa-network-interface",
    type: orNull(text()),
    description: "Advertise the first IPv4 address of this interface",
  }),
  // --- inspection (spec 06) ---
  option({
    key: "inspectionCallbackUrl",
    option: "inspection_callback_url",
    kernel: "ipa-inspection-callback-url",
    type: orNull(endpointText()),
    description: "Inspection endpoint URL(s), comma-separated, or `mdns`; enables inspection",
  }),
  option({
    key: "inspectionCollectors",
    option: "inspection_collectors",
    kernel: "ipa-inspection-collectors",
    type: text(),
    description: "Inspection collectors, comma-separated, run in order",
  }),
  option({
    key: "inspectionDhcpWaitTimeout",
    option: "inspection_dhcp_wait_timeout",
    kernel: "ipa-inspection-dhcp-wait-timeout",
    type: seconds(),
    description: "Seconds to wait for DHCP addresses before inspecting; 0 disables",
  }),
  option({
    key: "inspectionDhcpAllInterfaces",
    option: "inspection_dhcp_all_interfaces",
    kernel: "ipa-inspection-dhcp-all-interfaces",
    type: bool(),
    description: "Wait for DHCP on every interface, not only the PXE one",
  }),
  option({
    key: "lldpTimeout",
    option: "lldp_timeout",
    kernel: "ipa-lldp-timeout",
    type: seconds(),
    description: "Seconds to listen for LLDP frames",
  }),
  option({
    key: "collectLldp",
    option: "collect_lldp",
    kernel: "ipa-collect-lldp",
    type: bool(),
    description: "Collect LLDP frames for the inventory (deprecated: use the `lldp` collector)",
  }),
  // --- hardware ---
  option({
    key: "hardwareInitializationDelay",
    option: "hardware_initialization_delay",
    kernel: "ipa-hardware-initialization-delay",
    type: seconds(),
    description: "Seconds to wait after initialising hardware managers",
  }),
  option({
    key: "diskWaitAttempts",
    option: "disk_wait_attempts",
    kernel: "ipa-disk-wait-attempts",
    type: integer(0),
    description: "Checks for a usable disk at start-up; 0 disables waiting",
  }),
  option({
    key: "diskWaitDelay",
    option: "disk_wait_delay",
    kernel: "ipa-disk-wait-delay",
    type: seconds(),
    description: "Seconds between those checks",
  }),
  option({
    key: "ntpServer",
    option: "ntp_server",
    kernel: "ipa-ntp-server",
    type: orNull({
      expected: "a host name or IP address",
      schema: z.string().trim().max(253).regex(/^[a-zA-Z0-9.:_-]+$/),
    }),
    description: "NTP server to set the clock from at start-up",
  }),
  option({
    key: "failIfClockNotSet",
    option: "fail_if_clock_not_set",
    kernel: null,
    type: bool(),
    description: "Stop start-up when the clock cannot be set",
  }),
  option({
    key: "enableVlanInterfaces",
    option: "enable_vlan_interfaces",
    kernel: "ipa-enable-vlan-interfaces",
    type: text(),
    description: "VLAN interfaces to create: `if.vlan`, `if` or `all`, comma-separated",
  }),
  option({
    key: "guardSpecialFilesystems",
    option: "guard-special-filesystems",
    kernel: "ipa-guard-special-filesystems",
    type: bool(),
    description: "Refuse to erase devices holding shared filesystems (GPFS, VMFS, GFS2)",
  }),
  // --- images (spec 08) ---
  option({
    key: "imageServerUser",
    option: "image_server_user",
    kernel: null,
    type: orNull(text()),
    description: "User for `http_basic` image-server authentication",
  }),
  option({
    key: "imageServerPassword",
    option: "image_server_password",
    kernel: null,
    type: orNull(text()),
    secret: true,
    description: "Password for `http_basic` image-server authentication",
  }),
  option({
    key: "imageServerAuthStrategy",
    option: "image_server_auth_strategy",
    kernel: null,
    type: oneOf(["noauth", "http_basic"]),
    description: "Image-server authentication",
  }),
  option({
    key: "imageDownloadConnectionTimeout",
    option: "image_download_connection_timeout",
    kernel: "ipa-image-download-connection-timeout",
    type: seconds(),
    description: "Connect and read timeout of image downloads, in seconds",
  }),
  option({
    key: "imageDownloadConnectionRetries",
    option: "image_download_connection_retries",
    kernel: "ipa-image-download-connection-retries",
    type: integer(0),
    description: "Retries of a failed image connection",
  }),
  option({
    key: "imageDownloadConnectionRetryInterval",
    option: "image_download_connection_retry_interval",
    kernel: "ipa-image-download-connection-retry-interval",
    type: seconds(),
    description: "Seconds between those retries",
  }),
  option({
    key: "imageDownloadMaxDuration",
    option: "image_download_max_duration",
    kernel: "ipa-image-download-max-duration",
    type: seconds(),
    description: "Give up an image download after this many seconds; 0 means no limit",
  }),
  option({
    key: "md5Enabled",
    option: "md5_enabled",
    kernel: null,
    type: bool(),
    description: "Accept MD5 image checksums (Ironic's lookup may override)",
  }),
  option({
    key: "disableDeepImageInspection",
    option: "disable_deep_image_inspection",
    kernel: null,
    type: bool(),
    description: "Skip image format safety checks (Ironic's lookup may override)",
  }),
  option({
    key: "permittedImageFormats",
    option: "permitted_image_formats",
    kernel: null,
    type: list(
      z.string().toLowerCase().regex(/^[a-z0-9][a-z0-9_-]*$/),
      "comma-separated image format names",
    ),
    description: "Image formats allowed after inspection (Ironic's lookup may override)",
  }),
  option({
    key: "configDriveRebuild",
    option: "config_drive_rebuild",
    kernel: null,
    type: bool(),
    description: "Always rebuild the config-drive partition instead of copying the image",
  }),
  option({
    key: "ignoreBootloaderFailure",
    option: "ignore_bootloader_failure",
    kernel: "ipa-ignore-bootloader-failure",
    type: orNull(bool()),
    description: "Ignore bootloader installation failures (unset: do not)",
  }),
  option({
    key: "enableBiosBootloaderInstall",
    option: "enable_bios_bootloader_install",
    kernel: null,
    type: bool(),
    description: "Install GRUB on BIOS nodes (Ironic's lookup may turn it on)",
  }),
  option({
    key: "injectFilesPriority",
    option: "inject_files_priority",
    kernel: "ipa-inject-files-priority",
    type: integer(0, 99),
    description: "Priority of the `inject_files` deploy step",
  }),
  // --- this agent's own options ---
  option({
    key: "standalone",
    option: "standalone",
    kernel: "ipa-standalone",
    type: bool(),
    description: "Run without Ironic: no lookup, no heartbeat",
  }),
  option({
    key: "debug",
    option: "debug",
    kernel: "ipa-debug",
    kernelWins: true,
    type: bool(),
    description: "Log at debug level (`ipa-debug` wins over files and flags)",
  }),
  option({
    key: "protectHost",
    option: "protect_host",
    kernel: "ipa-protect-host",
    type: bool(),
    description: "Only log power-off/reboot, UEFI NVRAM, hwclock and BMC changes",
  }),
  option({
    key: "onlyBlockDevices",
    option: "only_block_devices",
    kernel: "ipa-only-block-devices",
    type: list(
      z.string().regex(/^\/dev\/[^\s,]+$/),
      "comma-separated device paths starting with /dev/",
    ),
    description: "If set, the only block devices the agent lists, writes or erases",
  }),
  option({
    key: "hardwareManagers",
    option: "hardware_managers",
    kernel: "ipa-hardware-managers",
    type: list(z.string(), "comma-separated URLs or paths"),
    description: "Extra hardware-manager modules (URLs or paths), comma-separated",
  }),
  option({
    key: "stateDir",
    option: "state_dir",
    kernel: "ipa-state-dir",
    type: {
      expected: "an absolute path",
      schema: z.string().trim().startsWith("/"),
    },
    description: "Directory for the agent's state files",
  }),
  option({
    key: "configFile",
    option: "config_file",
    kernel: null,
    cliOnly: true,
    type: orNull(text()),
    description: "Read only this config file instead of the default locations",
  }),
  option({
    key: "cmdlinePath",
    option: "cmdline_path",
    kernel: null,
    cliOnly: true,
    type: nonEmptyText(),
    description: "File holding the kernel command line (for tests)",
  }),
] as const;

/** The table without per-entry key types, for code that handles every option alike. */
const DEFS: readonly OptionDef[] = OPTIONS;

// Compile-time check: fails to type-check when a `Config` field has no entry in OPTIONS.
const _everyFieldHasAnOption: Record<
  Exclude<keyof Config, (typeof OPTIONS)[number]["key"]>,
  never
> = {};

/**
 * Spec 10 options that IPA has but that mean nothing here. They are accepted from every source,
 * so IPA's config files and kernel command lines keep working, and a warning says they are
 * ignored.
 */
const IGNORED_OPTIONS: readonly {
  option: string;
  kernel: string | null;
  boolean: boolean;
  default: string;
  description: string;
}[] = [
  {
    option: "agent_token_required",
    kernel: "ipa-agent-token-required",
    boolean: true,
    default: "false",
    description: "Ignored (IPA-legacy only): the token is always required",
  },
  {
    option: "introspection_daemon",
    kernel: null,
    boolean: true,
    default: "false",
    description: "Ignored (IPA's collection tool only)",
  },
  {
    option: "introspection_daemon_post_interval",
    kernel: null,
    boolean: false,
    default: "300",
    description: "Ignored (IPA's collection tool only)",
  },
  {
    option: "disable_bootc_deploy",
    kernel: null,
    boolean: true,
    default: "false",
    description: "Ignored: accepted for IPA compatibility",
  },
];

/** Kernel parameters other modules read directly (spec 10 §2); not options, but not unknown. */
const KERNEL_ONLY_PARAMS: ReadonlySet<string> = new Set([
  "ipa-inspection-benchmarks",
  "ipa-use-mdns",
]);

/** One entry of either table, as the parsers and `describeOptions` see it. */
interface Known {
  readonly option: string;
  readonly flag: string;
  readonly kernel: string | null;
  readonly boolean: boolean;
  readonly description: string;
  /** Null for an ignored option. */
  readonly def: OptionDef | null;
  /** The default as text, for ignored options (the others take theirs from `defaultConfig`). */
  readonly ignoredDefault: string;
}

const KNOWN: readonly Known[] = [
  ...DEFS.map((def) => ({
    option: def.option,
    flag: flagOf(def.option),
    kernel: def.kernel,
    boolean: def.type.boolean === true,
    description: def.description,
    def,
    ignoredDefault: "",
  })),
  ...IGNORED_OPTIONS.map((ignored) => ({
    option: ignored.option,
    flag: flagOf(ignored.option),
    kernel: ignored.kernel,
    boolean: ignored.boolean,
    description: ignored.description,
    def: null,
    ignoredDefault: ignored.default,
  })),
];

const BY_FLAG = new Map(KNOWN.map((known) => [known.flag, known]));
const BY_FILE_KEY = new Map(KNOWN.map((known) => [fileKeyOf(known.option), known]));
const BY_KERNEL = new Map(
  KNOWN.filter((known) => known.kernel !== null).map((known) => [known.kernel, known]),
);
const BY_FILE_ALIAS = new Map(
  KNOWN.flatMap((known) => (known.def?.fileAliases ?? []).map((alias) => [alias, known])),
);

/** The single schema: every option optional, since absent ones keep their default. */
const SCHEMA = z.object(
  Object.fromEntries(DEFS.map((def) => [def.key, def.type.schema.optional()])),
);

/** `guard-special-filesystems` already uses dashes; every other option gets them here. */
function flagOf(option: string): string {
  return option.replaceAll("_", "-");
}

/** Config files accept both `_` and `-` spellings of a key. */
function fileKeyOf(key: string): string {
  return key.replaceAll("-", "_");
}

// ---------------------------------------------------------------------------------------------
// Sources.

/** Raw (still textual) inputs, as `loadConfig` reads them. */
export interface ConfigSources {
  /** Kernel parameters, e.g. from `parseKernelCmdline`. */
  kernel?: Record<string, string>;
  /** Parsed config files, lowest priority first. */
  files?: readonly ConfigFileSource[];
  /** Flags from `parseCommandLine`, keyed by flag name without "--". */
  cli?: Record<string, string | boolean>;
}

export interface ConfigFileSource {
  path: string;
  sections: IniDocument;
}

type Warn = (message: string) => void;

export interface ResolveOptions {
  /** Receives messages about ignored inputs (default: the logger). */
  onWarning?: Warn;
}

interface RawValue {
  value: string;
  /** Where it came from, for error messages. */
  source: string;
}

type RawValues = Map<OptionDef, RawValue>;

/**
 * Key/value pairs of a kernel command line (spec 10 §1.1): split on whitespace, each token with
 * "=" split at its first "="; tokens without "=" are ignored and later duplicates win.
 */
export function parseKernelCmdline(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const token of text.split(/\s+/)) {
    const at = token.indexOf("=");
    if (at > 0) params[token.slice(0, at)] = token.slice(at + 1);
  }
  return params;
}

/**
 * Command-line flags keyed by canonical flag name (`listen-port`). Accepts `--flag value`,
 * `--flag=value`, the underscore spellings IPA's own flags use (`--api_url`), and for booleans a
 * bare `--flag` (true), `--no-flag` and oslo's `--noflag` (false).
 */
export function parseCommandLine(argv: readonly string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--") || arg === "--") {
      throw new ConfigError(`Unexpected command-line argument "${arg}": only flags are accepted`);
    }
    const equals = arg.indexOf("=");
    const typed = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    const inline = equals < 0 ? undefined : arg.slice(equals + 1);
    const name = flagOf(typed);
    const known = BY_FLAG.get(name);
    if (known !== undefined) {
      if (inline !== undefined) flags[name] = inline;
      else if (known.boolean) flags[name] = true;
      else flags[name] = flagValue(argv[++i], typed);
      continue;
    }
    const negated = negatedFlag(name);
    if (negated === undefined || inline !== undefined) {
      throw new ConfigError(`Unknown command-line flag "--${typed}"`);
    }
    flags[negated.flag] = false;
  }
  return flags;
}

function flagValue(next: string | undefined, typed: string): string {
  // A value never starts with "--": that is the next flag, so this one lost its value.
  if (next === undefined || next.startsWith("--")) {
    throw new ConfigError(`Command-line flag "--${typed}" needs a value`);
  }
  return next;
}

/** The boolean option `--no-x` or `--nox` turns off, if any. */
function negatedFlag(name: string): Known | undefined {
  const rest = name.startsWith("no-") ? name.slice(3) : name.startsWith("no") ? name.slice(2) : "";
  const known = BY_FLAG.get(rest);
  return known?.boolean ? known : undefined;
}

/**
 * Merges the sources by precedence and validates the result with the one schema. Pure: no I/O;
 * ignored inputs (unknown `ipa-*` parameters, unknown config-file keys) go to `onWarning`.
 * Throws `ConfigError` naming the option, the source and the value of each bad setting.
 */
export function resolveConfig(sources: ConfigSources, options: ResolveOptions = {}): Config {
  const warn = options.onWarning ?? ((message: string) => log.warn(message));
  const raw: RawValues = new Map();
  const kernel = sources.kernel ?? {};
  addKernel(raw, kernel, warn);
  for (const file of sources.files ?? []) addFile(raw, file, warn);
  addCli(raw, sources.cli ?? {}, warn);
  for (const def of DEFS) {
    const value = def.kernelWins && def.kernel !== null ? kernel[def.kernel] : undefined;
    if (value !== undefined) raw.set(def, { value, source: `kernel parameter ${def.kernel}` });
  }
  return validate(raw);
}

function addKernel(raw: RawValues, kernel: Record<string, string>, warn: Warn): void {
  for (const [name, value] of Object.entries(kernel)) {
    const known = BY_KERNEL.get(name);
    if (known?.def) raw.set(known.def, { value, source: `kernel parameter ${name}` });
    else if (known) warn(`Kernel parameter ${name} has no effect in this agent; ignored`);
    else if (name.startsWith("ipa-") && !KERNEL_ONLY_PARAMS.has(name)) {
      warn(`Unknown kernel parameter ${name}; ignored`);
    }
  }
}

function addFile(raw: RawValues, file: ConfigFileSource, warn: Warn): void {
  for (const [section, entries] of Object.entries(file.sections)) {
    for (const [key, value] of Object.entries(entries)) {
      const where = `config file ${file.path} [${section}] ${key}`;
      const known = section === "DEFAULT"
        ? BY_FILE_KEY.get(fileKeyOf(key))
        : BY_FILE_ALIAS.get(`[${section}] ${key}`);
      if (known?.def && !known.def.cliOnly) raw.set(known.def, { value, source: where });
      else if (known?.def) warn(`Option in ${where} can only be set on the command line; ignored`);
      else if (known) warn(`Option in ${where} has no effect in this agent; ignored`);
      else warn(`Unknown option in ${where}; ignored`);
    }
  }
}

function addCli(raw: RawValues, cli: Record<string, string | boolean>, warn: Warn): void {
  for (const [name, value] of Object.entries(cli)) {
    const known = BY_FLAG.get(flagOf(name));
    if (known === undefined) throw new ConfigError(`Unknown command-line flag "--${name}"`);
    if (known.def === null) {
      warn(`Command-line flag --${known.flag} has no effect in this agent; ignored`);
      continue;
    }
    raw.set(known.def, { value: String(value), source: `command-line flag --${known.flag}` });
  }
}

function validate(raw: RawValues): Config {
  const input = Object.fromEntries([...raw].map(([def, { value }]) => [def.key, value]));
  const result = SCHEMA.safeParse(input);
  if (!result.success) {
    const bad = new Set(result.error.issues.map((issue) => issue.path[0]));
    const messages = [...raw]
      .filter(([def]) => bad.has(def.key))
      .map(([def, value]) => invalidValueMessage(def, value));
    // Every issue is under an option key; the fallback only guards against a zod surprise.
    throw new ConfigError(messages.join("; ") || result.error.message);
  }
  // Sound: `option()` ties each schema's output to the type of its `Config` field.
  return { ...defaultConfig(), ...(result.data as Partial<Config>) };
}

function invalidValueMessage(def: OptionDef, raw: RawValue): string {
  const shown = def.secret ? "<redacted>" : JSON.stringify(raw.value);
  return `Invalid value ${shown} for option ${def.option} (${raw.source}): ` +
    `expected ${def.type.expected}`;
}

// ---------------------------------------------------------------------------------------------
// Reading the sources.

export interface LoadConfigOptions {
  argv: readonly string[];
  runner: Runner;
  /** Where to look when no `--config-file` is given (tests point these at temporary files). */
  defaultFiles?: { file: string; dir: string };
  /** Receives messages about ignored inputs (default: the logger). */
  onWarning?: Warn;
}

const DEFAULT_FILES = {
  file: "/etc/ironic-python-agent.conf",
  dir: "/etc/ironic-python-agent.d",
};

/**
 * Reads the command line, the kernel parameters and the config files, and resolves them. Also
 * registers the token and image-server password with the logger so no log line shows them.
 * `configFile` in the result is the first config file read (`--config-file` when given).
 */
export async function loadConfig(options: LoadConfigOptions): Promise<Config> {
  const warn = options.onWarning ?? ((message: string) => log.warn(message));
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
    : await readDefaultConfigFiles(options.defaultFiles ?? DEFAULT_FILES);
  const config = resolveConfig({ kernel: kernel ?? {}, files, cli }, { onWarning: warn });
  addSecret(config.agentToken);
  addSecret(config.imageServerPassword);
  return { ...config, configFile: files[0]?.path ?? null };
}

/**
 * Kernel parameters from the file at `path` (normally /proc/cmdline, which only `cat` through the
 * runner may open), or null when it cannot be read. Other modules use it for `BOOTIF` and
 * `boot_method`.
 */
export async function readKernelParams(
  runner: Runner,
  path: string = defaultConfig().cmdlinePath,
): Promise<Record<string, string> | null> {
  const text = await readSystemFile(runner, path);
  return text === null ? null : parseKernelCmdline(text);
}

/** Reads and parses one config file; a missing file is an error. */
async function readConfigFile(path: string): Promise<ConfigFileSource> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound ? "no such file" : String(err);
    throw new ConfigError(`Cannot read config file "${path}": ${reason}`, { cause: err });
  }
  try {
    return { path, sections: parseIni(text) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`Cannot parse config file "${path}": ${reason}`, { cause: err });
  }
}

/** The conventional file if it exists, then `*.conf` in the directory, alphabetically. */
async function readDefaultConfigFiles(
  defaults: { file: string; dir: string },
): Promise<ConfigFileSource[]> {
  const paths = (await exists(defaults.file)) ? [defaults.file] : [];
  const dir = defaults.dir.replace(/\/+$/, "");
  for (const name of await confFileNames(dir)) paths.push(`${dir}/${name}`);
  const files: ConfigFileSource[] = [];
  for (const path of paths) files.push(await readConfigFile(path));
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw new ConfigError(`Cannot read config file "${path}": ${err}`, { cause: err });
  }
}

/** Like oslo's `--config-dir`: `glob("*.conf")`, so hidden files are skipped, sorted. */
async function confFileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory || entry.name.startsWith(".")) continue;
      if (entry.name.endsWith(".conf")) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw new ConfigError(`Cannot list config directory "${dir}": ${err}`, { cause: err });
  }
  return names.sort();
}

// ---------------------------------------------------------------------------------------------
// Documentation.

export interface OptionDescription {
  /** E.g. `--api-url`. */
  flag: string;
  /** E.g. `ipa-api-url`, or null when the kernel cannot set it. */
  kernel: string | null;
  /** Config-file key in `[DEFAULT]`, e.g. `api_url`. */
  option: string;
  /** The built-in default as text; "" when there is none. */
  default: string;
  description: string;
}

/** Every option, in table order, for the README and `--help`. */
export function describeOptions(): OptionDescription[] {
  const defaults = defaultConfig();
  return KNOWN.map((known) => ({
    flag: `--${known.flag}`,
    kernel: known.kernel,
    option: known.option,
    default: known.def === null ? known.ignoredDefault : formatDefault(defaults[known.def.key]),
    description: known.description,
  }));
}

function formatDefault(value: Config[keyof Config]): string {
  if (value === null) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}
