/**
 * The option table (spec 10): one entry per `Config` field, naming its config-file key, command-line
 * flag and kernel parameter, its value type and its README line; plus the IPA options this agent
 * accepts and ignores.
 */
import { z } from "zod";
import type { Config } from "../config.ts";
import {
  bool,
  endpointList,
  endpointText,
  integer,
  list,
  nonEmptyText,
  oneOf,
  orNull,
  seconds,
  text,
  type ValueType,
} from "./value_types.ts";

export interface OptionDef<K extends keyof Config = keyof Config> {
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
    type: orNull(text()),
    description: "Inspection collectors, comma-separated, run in order (unset: `default,logs`); " +
      "set, with an API URL and no callback URL, enables inspection",
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
export const DEFS: readonly OptionDef[] = OPTIONS;

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
export const IGNORED_OPTIONS: readonly {
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
