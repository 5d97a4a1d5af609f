/**
 * The agent's error hierarchy. Every error a command or route can raise on purpose is an
 * `AgentError`; its `type`, `code`, class message and `details` are exactly the error object of
 * spec 02 §6.5, and `toFaultBody()` the HTTP error body of spec 02 §7.
 */

/** The error object carried in `command_error` (spec 02 §6.5). */
export interface ErrorObject {
  type: string;
  code: number;
  message: string;
  details: string;
}

/** Base of every error the agent reports on purpose. */
export class AgentError extends Error {
  /** The IPA error class name; never "TypeError" (the conductor special-cases it). */
  readonly type: string = "RESTError";
  /** HTTP-like status associated with the error. */
  readonly code: number = 500;
  /** The fixed class message. */
  readonly title: string = "An error occurred";
  /** Instance-specific text; shown to operators as the failure reason. */
  readonly details: string;

  constructor(details: string, options?: ErrorOptions) {
    // No message to super(): Error would define an own `message` that hides the getter below.
    super(undefined, options);
    this.details = details;
  }

  override get message(): string {
    return this.details ? `${this.title}: ${this.details}` : this.title;
  }

  override get name(): string {
    return this.type;
  }

  toErrorObject(): ErrorObject {
    return { type: this.type, code: this.code, message: this.title, details: this.details };
  }
}

// Each subclass overrides the three identity fields, as IPA's errors.py does.

export class InvalidContentError extends AgentError {
  override readonly type: string = "InvalidContentError";
  override readonly code: number = 400;
  override readonly title: string = "Invalid request body";
}
export class InvalidCommandError extends InvalidContentError {
  override readonly type: string = "InvalidCommandError";
  override readonly title: string = "Invalid command";
}
export class InvalidCommandParamsError extends InvalidContentError {
  override readonly type: string = "InvalidCommandParamsError";
  override readonly title: string = "Invalid command parameters";
}
export class NotFound extends AgentError {
  override readonly type: string = "NotFound";
  override readonly code: number = 404;
  override readonly title: string = "Not found";
}
export class RequestedObjectNotFoundError extends NotFound {
  override readonly type: string = "RequestedObjectNotFoundError";
}
/** Framework-style 400 (body is not `{name, params}`), as IPA's web framework words it. */
export class BadRequestError extends AgentError {
  override readonly type: string = "BadRequest";
  override readonly code: number = 400;
  override readonly title: string = "400 Bad Request";
}
/** Framework-style 404 for an unknown path. */
export class RouteNotFoundError extends AgentError {
  override readonly type: string = "RouteNotFound";
  override readonly code: number = 404;
  override readonly title: string = "404 Not Found";
}
export class UnauthorizedError extends AgentError {
  override readonly type: string = "Unauthorized";
  override readonly code: number = 401;
  override readonly title: string = "401 Unauthorized";
}
export class MethodNotAllowedError extends AgentError {
  override readonly type: string = "MethodNotAllowed";
  override readonly code: number = 405;
  override readonly title: string = "405 Method Not Allowed";
}
export class PayloadTooLargeError extends AgentError {
  override readonly type: string = "PayloadTooLarge";
  override readonly code: number = 413;
  override readonly title: string = "413 Payload Too Large";
}
export class CommandExecutionError extends AgentError {
  override readonly type: string = "CommandExecutionError";
  override readonly title: string = "Command execution failed";
}
export class AgentIsBusy extends AgentError {
  override readonly type: string = "AgentIsBusy";
  override readonly code: number = 409;
  override readonly title: string = "Agent is busy";
}
export class VersionMismatch extends AgentError {
  override readonly type: string = "VersionMismatch";
  override readonly code: number = 409;
  override readonly title: string =
    "Hardware managers version mismatch, reload agent with correct version";
}
export class ImageDownloadError extends AgentError {
  override readonly type: string = "ImageDownloadError";
  override readonly title: string = "Error downloading image";
}
export class ImageDownloadOutofSpaceError extends ImageDownloadError {
  override readonly type: string = "ImageDownloadOutofSpaceError";
}
export class ImageDownloadFatalError extends ImageDownloadError {
  override readonly type: string = "ImageDownloadFatalError";
}
export class ImageDownloadTimeoutError extends AgentError {
  override readonly type: string = "ImageDownloadTimeoutError";
  override readonly code: number = 408;
  override readonly title: string = "Image download timeout";
}
export class ImageChecksumError extends AgentError {
  override readonly type: string = "ImageChecksumError";
  override readonly title: string = "Error verifying image checksum";
}
export class ImageWriteError extends AgentError {
  override readonly type: string = "ImageWriteError";
  override readonly title: string = "Error writing image to device";
}
export class InvalidImage extends AgentError {
  override readonly type: string = "InvalidImage";
  override readonly title: string = "The provided image is not valid for use";
}
export class SystemRebootError extends AgentError {
  override readonly type: string = "SystemRebootError";
  override readonly title: string = "Error rebooting system";
}
export class BlockDeviceEraseError extends AgentError {
  override readonly type: string = "BlockDeviceEraseError";
  override readonly title: string = "Error erasing block device";
}
export class BlockDeviceError extends AgentError {
  override readonly type: string = "BlockDeviceError";
  override readonly title: string = "Block device caused unknown error";
}
export class ProtectedDeviceError extends AgentError {
  override readonly type: string = "ProtectedDeviceError";
  override readonly title: string = "Protected device";
}
export class DeviceNotFound extends AgentError {
  override readonly type: string = "DeviceNotFound";
  override readonly code: number = 404;
  override readonly title: string =
    "Error finding the disk or partition device to deploy the image onto";
}
export class HardwareManagerNotFound extends AgentError {
  override readonly type: string = "HardwareManagerNotFound";
  override readonly title: string = "No valid HardwareManager found";
}
export class HardwareManagerMethodNotFound extends AgentError {
  override readonly type: string = "HardwareManagerMethodNotFound";
  override readonly title: string = "No HardwareManager found to handle method";
}
export class HardwareManagerConfigurationError extends AgentError {
  override readonly type: string = "HardwareManagerConfigurationError";
  override readonly title: string = "Hardware manager configuration error";
}
export class IncompatibleHardwareMethodError extends AgentError {
  override readonly type: string = "IncompatibleHardwareMethodError";
  override readonly title: string = "HardwareManager method is not compatible with hardware";
}
export class SoftwareRAIDError extends AgentError {
  override readonly type: string = "SoftwareRAIDError";
  override readonly title: string = "Software RAID caused unknown error";
}
export class CleaningError extends AgentError {
  override readonly type: string = "CleaningError";
  override readonly title: string = "Clean step failed";
}
export class DeploymentError extends AgentError {
  override readonly type: string = "DeploymentError";
  override readonly title: string = "Deploy step failed";
}
export class ServicingError extends AgentError {
  override readonly type: string = "ServicingError";
  override readonly title: string = "Service step failed";
}
/** Raised for problems talking to Ironic; internal, never returned over the API. */
export class IronicAPIError extends AgentError {
  override readonly type: string = "IronicAPIError";
  override readonly title: string = "Error in call to Ironic API";
}
export class LookupNodeError extends IronicAPIError {
  override readonly type: string = "LookupNodeError";
  override readonly title: string = "Error getting configuration from Ironic";
}
export class HeartbeatError extends IronicAPIError {
  override readonly type: string = "HeartbeatError";
  override readonly title: string = "Error heartbeating to agent API";
}
export class LookupAgentIPError extends IronicAPIError {
  override readonly type: string = "LookupAgentIPError";
  override readonly title: string = "Error finding IP for Ironic Agent";
}
/** A bad configuration value; stops start-up. */
export class ConfigError extends AgentError {
  override readonly type: string = "ConfigError";
  override readonly title: string = "Invalid configuration";
}

/** Converts anything thrown into an `AgentError`, wrapping foreign errors with `wrap`. */
export function toAgentError(
  err: unknown,
  wrap: (details: string, cause: unknown) => AgentError = (details, cause) =>
    new CommandExecutionError(details, { cause }),
): AgentError {
  if (err instanceof AgentError) return err;
  return wrap(describeError(err), err);
}

/** `<ErrorClass>: <text>` for foreign errors, as IPA's step wrappers print them. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/** The operator-facing text of an error: an agent error's details without its class title. */
export function reason(err: unknown): string {
  if (err instanceof AgentError) return err.details || err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The WSME-style HTTP error body of spec 02 §7; `faultstring` is always a string. */
export function toFaultBody(err: AgentError): { faultcode: string; faultstring: string } {
  return {
    faultcode: err.code >= 500 ? "Server" : "Client",
    faultstring: err.message,
  };
}
