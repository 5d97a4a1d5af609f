/**
 * The agent's run sequence (spec 01 §1): load hardware managers, wait for networking, look the
 * node up, choose the advertise address, serve the API and heartbeat until told to stop.
 * `--standalone` skips everything that talks to Ironic.
 */
import { createHandler } from "./api/handler.ts";
import { serveApi, type ServedApi } from "./api/server.ts";
import { TokenGuard } from "./api/token_guard.ts";
import { CommandExecutor } from "./commands/executor.ts";
import { imageCommands } from "./commands/image.ts";
import { miscCommands } from "./commands/misc.ts";
import { CommandRegistry } from "./commands/registry.ts";
import { standbyCommands } from "./commands/standby.ts";
import { stepCommands } from "./commands/steps.ts";
import type { Config } from "./config.ts";
import { createImageDeployer } from "./deploy/image_deployer.ts";
import { HardwareManagers } from "./hardware/dispatch.ts";
import { loadManagers } from "./hardware/loader.ts";
import { runStartupInspection } from "./inspection/startup.ts";
import type { Node } from "./hardware/manager.ts";
import {
  findAdvertiseHost,
  formatCallbackUrl,
  Heartbeater,
  IronicClient,
  lookupNode,
  type LookupResult,
} from "./ironic/mod.ts";
import { addSecret, type Logger } from "./log.ts";
import { createHostControl } from "./system/host.ts";
import type { Runner } from "./system/run.ts";
import { rescueCommands, rescuePaths } from "./commands/rescue.ts";
import { pathExists } from "./system/sysfs.ts";
import { type AgentTls, chooseTls, staticTls } from "./tls/agent_tls.ts";
import { generateCertificateKeys } from "./tls/self_signed.ts";
import { AGENT_VERSION } from "./version.ts";
import { manageUefi } from "./uefi/boot_entries.ts";
import { installGrub } from "./uefi/grub_install.ts";
import { isMdDevice, prepareRaidGrub, setupRaidUefi } from "./raid/boot.ts";
import { assertMayWrite } from "./system/fence.ts";

export interface AgentOptions {
  config: Config;
  runner: Runner;
  log: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  /** How long Ironic must reject the token before the agent looks up again; 30 s. */
  relookupDelayMs?: number;
}

/** How long to wait for a NIC with a MAC address (spec 01 §1 step 5). */
const NETWORK_WAIT_MS = 60_000;
const NETWORK_POLL_MS = 5_000;
/**
 * How long Ironic must keep rejecting the token before the agent looks up again. The conductor
 * wipes the token as it starts powering the node off or rebooting it; a lookup sent in that
 * window would make it generate a token for a machine about to die, and a lookup Ironic holds
 * back on a locked node may land after the next boot's agent got its token and replace it (seen
 * with Ironic 21.4: the new agent was then locked out). A machine being powered off is gone long
 * before this delay; an agent still alive after it (its power action never happened) recovers.
 */
const RELOOKUP_DELAY_MS = 30_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** 32 random bytes, URL-safe base64 without padding: the shape of an Ironic token. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Resolves only when `signal` aborts (at once if it already has: no listener would fire). */
function idle(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** Lookup config keys that override agent options when not null (spec 01 §4). */
function applyLookupConfig(config: Config, lookup: LookupResult, log: Logger): void {
  const c = lookup.config as Record<string, unknown>;
  if (typeof c.disable_deep_image_inspection === "boolean") {
    config.disableDeepImageInspection = c.disable_deep_image_inspection;
  }
  if (Array.isArray(c.permitted_image_formats)) {
    config.permittedImageFormats = c.permitted_image_formats.map(String);
  }
  if (c.enable_bios_bootloader_install === true) config.enableBiosBootloaderInstall = true;
  if (typeof c.agent_md5_checksum_enable === "boolean") {
    config.md5Enabled = c.agent_md5_checksum_enable;
  }
  // TLS settings pushed by master conductors (spec 01 §4); applied when truthy, as IPA does.
  if (c.tls_min_version === "1.2" || c.tls_min_version === "1.3") {
    config.tlsMinVersion = c.tls_min_version;
  }
  if (typeof c.tls_cipher_suites === "string" && c.tls_cipher_suites) {
    config.tlsCipherSuites = c.tls_cipher_suites;
  }
  log.info("applied lookup configuration", {
    heartbeat_timeout: lookup.heartbeatTimeout,
    permitted_image_formats: config.permittedImageFormats,
    md5_enabled: config.md5Enabled,
    tls_min_version: config.tlsMinVersion,
  });
}

export class Agent {
  readonly #config: Config;
  readonly #runner: Runner;
  readonly #log: Logger;
  readonly #signal: AbortSignal;
  /** SIGTERM/SIGINT only: what ends the idling of a locked-down agent. */
  readonly #shutdown: AbortSignal;
  readonly #stop = new AbortController();
  readonly #managers = new HardwareManagers();
  readonly #tokens: TokenGuard;
  readonly #relookupDelayMs: number;
  #startedAt: number | null = null;
  #node: Node | null = null;
  #heartbeater: Heartbeater | null = null;
  #lockdown = false;
  /** How the API is served; static TLS is known at start, automatic TLS after lookup. */
  #tls: AgentTls | null = null;

  constructor(options: AgentOptions) {
    this.#config = options.config;
    this.#runner = options.runner;
    this.#log = options.log;
    this.#shutdown = options.signal;
    this.#signal = AbortSignal.any([options.signal, this.#stop.signal]);
    this.#tokens = new TokenGuard(options.config.agentToken);
    this.#relookupDelayMs = options.relookupDelayMs ?? RELOOKUP_DELAY_MS;
  }

  /** Runs until the agent is told to stop; rejects on fatal errors (lookup timed out). */
  async run(): Promise<void> {
    const config = this.#config;
    const log = this.#log;
    this.#startedAt = Date.now() / 1000;
    log.info("agent starting", {
      version: AGENT_VERSION,
      standalone: config.standalone,
      protect_host: config.protectHost,
      only_block_devices: config.onlyBlockDevices,
    });
    const host = createHostControl({
      runner: this.#runner,
      log,
      protectHost: config.protectHost,
    });
    const images = createImageDeployer({
      runner: this.#runner,
      config,
      managers: this.#managers,
    });
    const managers = await loadManagers({
      sources: config.hardwareManagers,
      context: { runner: this.#runner, log, config, managers: this.#managers, images },
    });
    await this.#managers.rank(managers, log);
    if (config.hardwareInitializationDelay > 0) {
      await sleep(config.hardwareInitializationDelay * 1000, this.#signal);
    }
    // Starting RAID arrays and waiting for the install device (the generic manager's
    // initialisation: seconds under emulation, up to disk_wait_attempts × disk_wait_delay when
    // disks come up late) runs beside network discovery and lookup, which need neither. Every
    // path below awaits it before anything touches a disk or the API is served; the no-op catch
    // only keeps a failure from counting as unhandled before then.
    const managersReady = this.#managers.initialize();
    managersReady.catch(() => {});

    const raidBootDeps = { runner: this.#runner, fence: config };
    const registry = new CommandRegistry([
      ...stepCommands("clean", { managers: this.#managers, nodes: this }),
      ...stepCommands("deploy", { managers: this.#managers, nodes: this }),
      ...stepCommands("service", { managers: this.#managers, nodes: this }),
      ...standbyCommands({ managers: this.#managers, images, host, node: () => this.#node }),
      ...imageCommands({
        bootedUefi: () => pathExists(this.#runner, "/sys/firmware/efi"),
        ignoreBootloaderFailure: config.ignoreBootloaderFailure,
        enableBiosBootloaderInstall: () => config.enableBiosBootloaderInstall,
        manageUefi: async ({ efiSystemPartUuid, log }) =>
          manageUefi(
            this.#runner,
            await this.#managers.dispatch("getOsInstallDevice", this.#node),
            { log, protectHost: config.protectHost, efiSystemPartUuid },
          ),
        softwareRaidUefi: async ({ efiSystemPartUuid, log }) => {
          const device = await this.#managers.dispatch("getOsInstallDevice", this.#node)
            .catch(() => null);
          if (device === null || !isMdDevice(device)) return null;
          const result = await setupRaidUefi({
            ...raidBootDeps,
            device,
            log,
            efiSystemPartUuid,
            bootedUefi: await pathExists(this.#runner, "/sys/firmware/efi"),
          });
          return result !== null;
        },
        installGrub: async (options) => {
          const device = await this.#managers.dispatch("getOsInstallDevice", this.#node);
          // grub-install writes the disk's boot sector: --protect-host fences it like an image.
          assertMayWrite(config, device, "install GRUB on");
          // Boot entries for the image's own EFI assets need a ramdisk booted UEFI (NVRAM).
          const uefi = await pathExists(this.#runner, "/sys/firmware/efi");
          await installGrub(this.#runner, {
            ...options,
            device,
            // Software RAID root (spec 12 §7): restarted, GRUB on every holder / the RAIDed ESP.
            ...(isMdDevice(device)
              ? await prepareRaidGrub({
                ...raidBootDeps,
                device,
                log: options.log,
                efiSystemPartUuid: options.efiSystemPartUuid,
                bootedUefi: await pathExists(this.#runner, "/sys/firmware/efi"),
                bootMode: options.bootMode,
              })
              : {}),
            manageUefi: uefi
              ? async () =>
                (await manageUefi(this.#runner, device, {
                  log: options.log,
                  protectHost: config.protectHost,
                  efiSystemPartUuid: options.efiSystemPartUuid,
                })) !== null
              : null,
          });
        },
      }),
      ...miscCommands({
        managers: this.#managers,
        runner: this.#runner,
        standalone: config.standalone,
        setNode: (node) => this.update(node),
        requestStop: ({ lockdown }) => this.#requestStop(lockdown),
      }),
      ...rescueCommands({
        protectHost: config.protectHost,
        stateDir: config.stateDir,
        requestStop: () => this.#requestStop(false),
      }),
    ]);
    const executor = new CommandExecutor({
      registry,
      log,
      signal: this.#signal,
      onAsyncDone: () => this.#heartbeater?.forceHeartbeat(),
    });
    const handler = createHandler({
      executor,
      tokens: this.#tokens,
      status: () => ({ started_at: this.#startedAt, version: AGENT_VERSION }),
      log,
    });

    this.#tls = staticTls(config, log);
    if (config.standalone) {
      if (!this.#tokens.token) {
        const token = randomToken();
        this.#tokens.setToken(token);
        // Printed once on stdout so an operator can call the command routes; never logged.
        addSecret(token);
        Deno.stdout.writeSync(new TextEncoder().encode(`agent token: ${token}\n`));
      }
      await managersReady;
      const api = this.#serve(handler);
      await this.#untilStopped(api);
      return;
    }

    const rescued = rescuePaths(config).marker;
    if (await pathExists(this.#runner, rescued)) {
      await managersReady;
      // IPA-master: a rescued machine's agent must not serve again (spec 01 §1 step 8).
      log.warn(`rescue marker "${rescued}" exists: not serving; the rescue user owns the machine`);
      return;
    }
    // An ECDSA key takes about a second on a slow (emulated) CPU: make it beside network set-up
    // and lookup. chooseTls awaits it, so a failure surfaces there; the no-op catch only keeps an
    // unused rejection (lookup never succeeded) from ending the process.
    const autoTlsKeys = !this.#tls && config.enableAutoTls
      ? generateCertificateKeys(config.tlsCertificateCurve)
      : undefined;
    autoTlsKeys?.catch(() => {});
    const macs = await this.#waitForNetwork();
    // Before lookup: inspection may be what tells Ironic which node this is (spec 06 §1).
    const inspectedUuid = await runStartupInspection({
      config,
      runner: this.#runner,
      log,
      managers: this.#managers,
      signal: this.#signal,
      managersReady,
    });
    if (config.apiUrl.length === 0) {
      log.error("no Ironic API URL configured (ipa-api-url); serving the API without Ironic");
      await managersReady;
      await this.#untilStopped(this.#serve(handler));
      return;
    }
    const client = new IronicClient({
      apiUrls: config.apiUrl,
      httpRequestTimeout: config.httpRequestTimeout,
      globalRequestId: config.globalRequestId,
      ironicApiVersion: config.ironicApiVersion,
      insecure: config.insecure,
      cafile: config.cafile,
      certfile: config.certfile,
      keyfile: config.keyfile,
      logger: log,
    });
    const [lookup] = await Promise.all([this.#lookup(client, macs, inspectedUuid), managersReady]);
    if (!lookup) return;
    // How to be reached, beside the new node's install-device wait (spec 04 §9): both come
    // before the first heartbeat, neither needs the other, and each takes a second under
    // emulation.
    const reachable = async () => {
      const advertiseHost = await findAdvertiseHost({
        config,
        runner: this.#runner,
        isReachable: (url) => client.probe(url),
        signal: this.#signal,
        logger: log,
      });
      this.#tls = await chooseTls({
        settings: config,
        advertiseHost,
        autoTlsSupported: () => client.supportsAutoTls(this.#signal),
        log,
        keys: autoTlsKeys,
      });
      return { advertiseHost, tls: this.#tls };
    };
    const [{ advertiseHost, tls }] = await Promise.all([
      reachable(),
      this.update(lookup.node as Node),
    ]);
    const callbackUrl = formatCallbackUrl({
      protocol: tls.protocol,
      host: advertiseHost,
      port: config.advertisePort,
    });
    const api = this.#serve(handler);
    this.#startHeartbeat(client, lookup, callbackUrl, macs);
    await this.#untilStopped(api);
  }

  /** NodeCache: caches `node`, waiting for disks when it is a different node (spec 04 §9). */
  async update(node: Node): Promise<void> {
    const changed = this.#node?.uuid !== node.uuid;
    this.#node = node;
    if (changed) await this.#managers.dispatch("waitForDisks", node);
  }

  /** Looks the node up; null when the agent must stop serving (masked token, none known). */
  async #lookup(
    client: IronicClient,
    macs: string[],
    nodeUuid: string | null = null,
  ): Promise<LookupResult | null> {
    const lookup = await lookupNode(client, {
      addresses: macs,
      nodeUuid,
      timeout: this.#config.lookupTimeout,
      interval: this.#config.lookupInterval,
      knownToken: this.#tokens.token,
      signal: this.#signal,
      logger: this.#log,
    });
    if (lookup.tokenUnavailable) {
      this.#log.error(
        "Ironic masked the agent token and none is known; locking down (spec 01 §5)",
      );
      await this.#lockdownNetwork();
      await idle(this.#signal);
      return null;
    }
    if (!this.#tokens.setToken(lookup.token)) {
      // Spec 01 §5: a token is learnt once; a different one is only taken after Ironic rejected
      // ours (release() in onTokenRejected).
      this.#log.error("lookup returned a different agent token; keeping the one learnt first");
    }
    applyLookupConfig(this.#config, lookup, this.#log);
    return lookup;
  }

  #startHeartbeat(
    client: IronicClient,
    lookup: LookupResult,
    callbackUrl: string,
    macs: string[],
  ): void {
    const heartbeater = new Heartbeater({
      client,
      nodeUuid: lookup.node.uuid,
      callbackUrl,
      heartbeatTimeout: lookup.heartbeatTimeout,
      agentVersion: AGENT_VERSION,
      token: () => this.#tokens.token,
      // The same PEM on every heartbeat: Ironic pins the first one (spec 01 §6).
      agentVerifyCa: () => this.#tls?.verifyCa ?? null,
      signal: this.#signal,
      logger: this.#log,
      onTokenRejected: ({ rejectedForMs }) => {
        // Ironic no longer knows our token (e.g. the node was powered off and on without this
        // process restarting): once that has lasted RELOOKUP_DELAY_MS, look up again and
        // heartbeat with what lookup gives. A new heartbeater starts a new streak, so a masked
        // token from that lookup (the conductor holds one we do not know) costs one lookup per
        // delay instead of a lookup → rejection → lookup spin.
        if (this.#heartbeater !== heartbeater) return;
        if (rejectedForMs < this.#relookupDelayMs) {
          if (rejectedForMs === 0) {
            this.#log.warn("Ironic rejects the agent token; looking up again if it still does", {
              in_seconds: this.#relookupDelayMs / 1000,
            });
          }
          return;
        }
        this.#heartbeater = null;
        this.#tokens.release();
        void heartbeater.stop().then(async () => {
          const again = await this.#lookup(client, macs);
          if (!again) return;
          await this.update(again.node as Node);
          this.#startHeartbeat(client, again, callbackUrl, macs);
        }).catch((err) => {
          this.#log.error("lookup after token rejection failed; exiting", { error: err });
          this.#stop.abort(err);
        });
      },
    });
    this.#heartbeater = heartbeater;
    void heartbeater.start();
  }

  /** MACs of the interfaces, waiting up to 60 s for one to appear (spec 01 §1 step 5). */
  async #waitForNetwork(): Promise<string[]> {
    const deadline = Date.now() + NETWORK_WAIT_MS;
    while (true) {
      const nics = await this.#managers.dispatch("listNetworkInterfaces");
      const macs = nics.map((n) => n.mac_address).filter(Boolean);
      if (macs.length > 0 || Date.now() >= deadline || this.#signal.aborted) {
        if (macs.length === 0) this.#log.warn("no network interface with a MAC address found");
        return macs;
      }
      await sleep(NETWORK_POLL_MS, this.#signal);
    }
  }

  #serve(handler: ReturnType<typeof createHandler>): ServedApi {
    return serveApi({
      hostname: this.#config.listenHost,
      port: this.#config.listenPort,
      handler,
      log: this.#log,
      signal: this.#signal,
      tls: this.#tls?.serve,
    });
  }

  #requestStop(lockdown: boolean): void {
    this.#lockdown ||= lockdown;
    // Deno.serve's shutdown lets the pending answer (this command's) finish, then closes the
    // listener and kept-alive connections, so no request after this one is answered.
    setTimeout(() => this.#stop.abort("stop requested"), 0);
  }

  async #untilStopped(api: ServedApi): Promise<void> {
    await api.finished;
    await this.#heartbeater?.stop();
    if (this.#lockdown) {
      await this.#lockdownNetwork();
      this.#log.warn("locked down: idling until the machine is powered off");
      // Return only on SIGTERM: the init system must not restart a locked-down agent. Not
      // #signal: that one is already aborted by the stop itself.
      await idle(this.#shutdown);
    }
  }

  /** `ip link set <if> down` for every interface (logged only under --protect-host). */
  async #lockdownNetwork(): Promise<void> {
    const nics = await this.#managers.dispatch("listNetworkInterfaces").catch(() => []);
    for (const nic of nics) {
      if (this.#config.protectHost) {
        this.#log.warn(`protect-host: would run "ip link set ${nic.name} down"`);
        continue;
      }
      await this.#runner.run("ip", ["link", "set", nic.name, "down"], { timeoutMs: 10_000 })
        .catch((err) => this.#log.error("could not bring interface down", { error: err }));
    }
  }
}
