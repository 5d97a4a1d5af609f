/**
 * The hardware-manager contract (spec 04). A manager declares what it can do: the steps it
 * offers (each with its own function) and the capabilities it implements. Nothing else is
 * dispatchable, so a helper can never become a step by accident.
 *
 * A manager module (built in, or imported from a URL) default-exports a `ManagerFactory`.
 */
import type { z } from "zod";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import type { BlockDevice, Inventory, NetworkInterface } from "../inventory/types.ts";
import type { LldpTlv } from "../inventory/lldp_frame.ts";
import type { DeviceEraseReport, EraseBlockDeviceContext } from "../erase/block_device.ts";

/** Support levels (spec 04 §2); larger values are allowed for site managers. */
export const SupportLevel = {
  NONE: 0,
  GENERIC: 1,
  MAINLINE: 2,
  SERVICE_PROVIDER: 3,
} as const;

/** The Ironic node as the agent receives it (lookup or command parameter); opaque beyond uuid. */
export interface Node {
  uuid: string;
  properties?: Record<string, unknown>;
  instance_info?: Record<string, unknown>;
  driver_info?: Record<string, unknown>;
  driver_internal_info?: Record<string, unknown>;
  [key: string]: unknown;
}
export type Port = Record<string, unknown>;

export type StepKind = "clean" | "deploy" | "service";
export const STEP_KINDS: readonly StepKind[] = ["clean", "deploy", "service"];

/** How a step is offered for one kind (spec 04 §5). */
export interface StepOffer {
  priority: number;
  abortable?: boolean;
  reboot_requested?: boolean;
}

export interface ArgInfo {
  description: string;
  required: boolean;
}

/** What a step function receives. */
export interface StepContext {
  readonly kind: StepKind;
  readonly node: Node;
  readonly ports: Port[];
  /** Step arguments (`step.args` over extra parameters), validated by `args` when declared. */
  readonly args: Record<string, unknown>;
  readonly log: Logger;
  /** Aborted when the agent shuts down. */
  readonly signal: AbortSignal;
  /** Publishes live progress, shown by `GET /v1/commands/{id}` while the command runs. */
  progress(report: Record<string, unknown>): void;
}

export interface StepDefinition {
  /** The step name on the wire (`erase_devices_metadata`). */
  readonly step: string;
  /** Ironic driver interface (`deploy`, `raid`, `management`, ...). */
  readonly interface: string;
  /** Offered as a clean / deploy / service step with these settings; absent = not offered. */
  readonly clean?: StepOffer;
  readonly deploy?: StepOffer;
  readonly service?: StepOffer;
  readonly argsinfo?: Record<string, ArgInfo>;
  /** Validates `args` before the step starts; failures answer 400 naming the argument. */
  readonly args?: z.ZodType<Record<string, unknown>>;
  /**
   * Checks that need the node (its root device hints, say) before the step starts; throw
   * `InvalidCommandParamsError` to answer 400. Receives the arguments `args` parsed.
   */
  validate?(args: Record<string, unknown>, node: Node): void;
  run(ctx: StepContext): Promise<unknown>;
}

/**
 * Hardware operations a manager may implement (spec 04 §7). A missing member, or one that throws
 * `IncompatibleHardwareMethodError`, makes dispatch fall through to the next manager.
 */
export interface Capabilities {
  listBlockDevices(options?: { includePartitions?: boolean }): Promise<BlockDevice[]>;
  listNetworkInterfaces(): Promise<NetworkInterface[]>;
  /** One LLDP frame's TLVs per interface, `[]` if none came (`collect_lldp_data`, spec 05 §2). */
  collectLldpData(interfaceNames: readonly string[]): Promise<Record<string, LldpTlv[]>>;
  /** Path of the install device for `node` (root device hints, spec 07). */
  getOsInstallDevice(node: Node | null): Promise<string>;
  listHardwareInfo(): Promise<Inventory>;
  /** Removes partition tables and signatures from every erasable device (spec 09 §3). */
  eraseDevicesMetadata(node: Node, log: Logger): Promise<void>;
  /** Erases one whole disk for `erase_devices` (spec 09 §2.1); reports the method used. */
  eraseBlockDevice(
    node: Node,
    device: BlockDevice,
    ctx: EraseBlockDeviceContext,
  ): Promise<DeviceEraseReport | null>;
  /** Flushes caches before power-off (spec 03 §3.4). */
  fullSync(): Promise<void>;
  /** Waits for a usable disk at start-up (spec 04 §9). */
  waitForDisks(node: Node | null): Promise<void>;
}
export type CapabilityName = keyof Capabilities;

export interface HardwareManager {
  /** `HARDWARE_MANAGER_NAME`, the key of the version map (`generic_hardware_manager`). */
  readonly name: string;
  /** The manager's "class name", the key of step lists (`GenericHardwareManager`). */
  readonly className: string;
  readonly version: string;
  /** Support level for this machine; 0 drops the manager (spec 04 §3). */
  evaluateSupport(): Promise<number>;
  /** One-time set-up after every manager is loaded and ranked. */
  initialize?(): Promise<void>;
  readonly steps: readonly StepDefinition[];
  readonly capabilities: Partial<Capabilities>;
}

/** Routes calls to the best (or every) manager; given to managers for composite operations. */
export interface Dispatcher {
  dispatch<K extends CapabilityName>(
    name: K,
    ...args: Parameters<Capabilities[K]>
  ): Promise<Awaited<ReturnType<Capabilities[K]>>>;
  dispatchAll<K extends CapabilityName>(
    name: K,
    ...args: Parameters<Capabilities[K]>
  ): Promise<Map<string, Awaited<ReturnType<Capabilities[K]>>>>;
}

/** Writes images for `standby.prepare_image` and the `write_image` step (spec 08 §2). */
export interface ImageDeployer {
  /** Writes the image; returns the message `image (<id>) written to device ...`. */
  prepareImage(request: {
    node: Node | null;
    imageInfo: unknown;
    configdrive: unknown;
    log: Logger;
    signal: AbortSignal;
    progress(report: Record<string, unknown>): void;
  }): Promise<string>;
  /** Throws `InvalidCommandParamsError` when `imageInfo` cannot be deployed (400 before start). */
  validate(imageInfo: unknown, configdrive: unknown): void;
}

/** What a manager factory receives. */
export interface ManagerContext {
  readonly runner: Runner;
  readonly log: Logger;
  readonly config: Readonly<Config>;
  /** Dispatch to all loaded managers (valid once loading has finished). */
  readonly managers: Dispatcher;
  /** The agent's image writer (shared with `standby.prepare_image`). */
  readonly images: ImageDeployer;
}

export type ManagerFactory = (ctx: ManagerContext) => HardwareManager | Promise<HardwareManager>;
