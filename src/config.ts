/**
 * Agent configuration (spec 10). PLACEHOLDER: the `Config` shape below is fixed (other modules
 * code against it); the loader (CLI flags, kernel parameters, config files, precedence, zod
 * validation) is being written in this file. TODO(#3)
 */

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
