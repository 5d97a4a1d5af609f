/**
 * LLDP capture (spec 05 §2): wait up to `lldp_timeout` for one LLDP frame on each interface, all
 * interfaces at once, and return its TLVs; `[]` for an interface that heard nothing.
 *
 * IPA opens an `AF_PACKET` socket per interface; Deno cannot, so one `tcpdump` per interface
 * does the capture (`-c 1`: it exits after the first frame). tcpdump rather than lldpd's
 * `lldpcli`: lldpd is a daemon that must run for `lldp_timeout` before asking it anything, it
 * also transmits LLDP frames of its own, and it reports decoded fields, not the raw TLVs that
 * Ironic's LLDP parsers expect. tcpdump's `-xx` dump carries the raw frame.
 *
 * Promiscuous mode: libpcap enables it with a `PACKET_MR_PROMISC` membership on the capture
 * socket, not by setting `IFF_PROMISC`; the kernel drops the membership when the socket closes,
 * however tcpdump ends (even SIGKILL), so the interface's flags are restored without a step of
 * ours that could be skipped.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { ToolError } from "../system/run.ts";
import { type LldpTlv, parseLldpFrame, parseTcpdumpHex } from "./lldp_frame.ts";

export interface LldpCaptureOptions {
  log: Logger;
  /** How long to wait for a frame on each interface (`lldp_timeout`, in milliseconds). */
  timeoutMs: number;
  /** Stops every capture early (agent shutdown). */
  signal?: AbortSignal;
}

/** Margin for tcpdump to start and exit, on top of the wait, before the runner kills it. */
const TOOL_MARGIN_MS = 10_000;

/** The tcpdump arguments for one interface: one incoming LLDP frame, hex dump with header. */
export function tcpdumpArgs(name: string): string[] {
  // -Q in: frames from the neighbour only, not LLDP this host might send itself.
  // --immediate-mode: hand the frame over when it arrives, not when a buffer fills.
  return [
    ...["-i", name, "-c", "1", "-n", "-xx", "-Q", "in", "--immediate-mode"],
    ...["ether", "proto", "0x88cc"],
  ];
}

function hasHexDump(stdout: string): boolean {
  return /^\s+0x0000:/m.test(stdout);
}

/** TLVs from one interface, `[]` when nothing arrived; throws when the capture failed. */
async function captureOne(
  runner: Runner,
  name: string,
  options: LldpCaptureOptions,
): Promise<LldpTlv[]> {
  const log = options.log.with({ interface: name });
  const waited = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([waited, options.signal]) : waited;
  let stdout: string;
  try {
    // tcpdump ends on SIGTERM with exit code 0 and no frame; that is the "no frame" case too.
    stdout = (await runner.run("tcpdump", tcpdumpArgs(name), {
      timeoutMs: options.timeoutMs + TOOL_MARGIN_MS,
      signal,
    })).stdout;
  } catch (err) {
    if (err instanceof ToolError && err.exitCode !== null && signal.aborted) {
      stdout = err.stdout;
    } else if (err instanceof ToolError && /That device is not up/.test(err.stderr)) {
      // A down link cannot receive frames; IPA's socket would wait and report [] as well.
      log.info("interface is down; no LLDP frame can arrive, reporting none");
      return [];
    } else {
      throw err;
    }
  }
  if (!hasHexDump(stdout)) {
    log.info("no LLDP frame received", { waited_s: options.timeoutMs / 1000 });
    return [];
  }
  const frame = parseTcpdumpHex(stdout);
  const { tlvs, truncated } = parseLldpFrame(frame);
  const source = Array.from(frame.subarray(6, 12), (b) => b.toString(16).padStart(2, "0"))
    .join(":");
  if (truncated) log.warn("LLDP frame ends inside its last TLV; kept the bytes present");
  log.info("LLDP frame received", { source_mac: source, tlvs: tlvs.length });
  return tlvs;
}

/**
 * Captures on every interface in parallel. Interfaces whose capture failed (tcpdump missing,
 * no such device, an unparsable frame) are left out of the result and logged with the reason,
 * so one bad interface never costs the others their data.
 */
export async function captureLldp(
  runner: Runner,
  interfaceNames: readonly string[],
  options: LldpCaptureOptions,
): Promise<Record<string, LldpTlv[]>> {
  const names = interfaceNames.filter((n) => n !== "lo");
  options.log.info("listening for LLDP frames", {
    interfaces: names,
    timeout_s: options.timeoutMs / 1000,
  });
  const settled = await Promise.allSettled(names.map((n) => captureOne(runner, n, options)));
  const out: Record<string, LldpTlv[]> = {};
  settled.forEach((result, i) => {
    const name = names[i]!;
    if (result.status === "fulfilled") {
      out[name] = result.value;
    } else {
      options.log.warn("LLDP capture failed; no LLDP data for this interface", {
        interface: name,
        error: result.reason,
      });
    }
  });
  return out;
}
