/**
 * Download progress: throttled callbacks (for the command status) and periodic log lines, so a
 * long image write is visible without flooding either.
 */
import type { Logger } from "../log.ts";

export interface Progress {
  /** Bytes received from the network. */
  downloaded: number;
  /** Bytes the device writer has accepted. */
  written: number;
  /** Image size from Content-Length, when known. */
  total: number | null;
  /** Average bytes per second since the attempt started. */
  rate: number;
  /** Estimated seconds left, when the total is known and data is flowing. */
  eta: number | null;
}

export interface ProgressMeterOptions {
  total: number | null;
  log: Logger;
  onProgress?: (progress: Progress) => void;
  /** Monotonic milliseconds (default `performance.now`). */
  now?: () => number;
  /** Minimum time between `onProgress` calls (default 1 s). */
  reportIntervalMs?: number;
  /** Time between progress log lines (default 5 s). */
  logIntervalMs?: number;
}

const MIB = 1024 * 1024;

export class ProgressMeter {
  readonly #options: ProgressMeterOptions;
  readonly #now: () => number;
  readonly #started: number;
  #lastReport: number;
  #lastLog: number;

  constructor(options: ProgressMeterOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#lastReport = this.#started;
    this.#lastLog = this.#started;
  }

  /** Seconds since the meter started. */
  get seconds(): number {
    return (this.#now() - this.#started) / 1000;
  }

  snapshot(downloaded: number, written: number): Progress {
    const seconds = this.seconds;
    const rate = seconds > 0 ? downloaded / seconds : 0;
    const total = this.#options.total;
    const eta = total !== null && rate > 0 ? Math.max(0, total - downloaded) / rate : null;
    return { downloaded, written, total, rate, eta };
  }

  /** Called for every chunk; reports at most once per interval. */
  update(downloaded: number, written: number): void {
    const now = this.#now();
    const reportDue = now - this.#lastReport >= (this.#options.reportIntervalMs ?? 1000);
    const logDue = now - this.#lastLog >= (this.#options.logIntervalMs ?? 5000);
    if (!reportDue && !logDue) return;
    const progress = this.snapshot(downloaded, written);
    if (reportDue && this.#options.onProgress) {
      this.#lastReport = now;
      this.#options.onProgress(progress);
    }
    if (logDue) {
      this.#lastLog = now;
      this.#options.log.info("Image download in progress", describe(progress));
    }
  }

  /** The last report, once the image is completely written. */
  complete(downloaded: number, written: number): Progress {
    const progress = this.snapshot(downloaded, written);
    this.#options.onProgress?.(progress);
    return progress;
  }
}

/** Log fields for a progress value, in MiB and seconds. */
export function describe(progress: Progress): Record<string, unknown> {
  return {
    downloaded_mib: round(progress.downloaded / MIB),
    written_mib: round(progress.written / MIB),
    total_mib: progress.total === null ? undefined : round(progress.total / MIB),
    percent: progress.total ? round((100 * progress.downloaded) / progress.total) : undefined,
    rate_mib_s: round(progress.rate / MIB),
    eta_s: progress.eta === null ? undefined : Math.round(progress.eta),
  };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
