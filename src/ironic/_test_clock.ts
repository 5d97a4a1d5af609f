/**
 * Test helpers: a virtual clock whose `sleep` advances time at once, and a seeded random source.
 * Not part of the module's API.
 */
import type { Clock } from "./clock.ts";

interface Timer {
  at: number;
  fn: () => void;
}

export interface FakeClockOptions {
  /** Virtual start time in ms (non-zero, like a real monotonic clock). */
  start?: number;
  /** Fails any sleep that would pass this much virtual time since the start (a loop bound). */
  limitMs?: number;
}

/** `sleep(ms)` moves virtual time forward by `ms`, firing callbacks scheduled on the way. */
export class FakeClock implements Clock {
  #now: number;
  readonly #start: number;
  readonly #limitMs: number;
  #timers: Timer[] = [];
  /** Every requested sleep, in ms. */
  readonly sleeps: number[] = [];

  constructor(options: FakeClockOptions = {}) {
    this.#start = options.start ?? 1_000_000;
    this.#now = this.#start;
    this.#limitMs = options.limitMs ?? 24 * 3600 * 1000;
  }

  now(): number {
    return this.#now;
  }

  /** Virtual ms since the start. */
  elapsed(): number {
    return this.#now - this.#start;
  }

  /** Runs `fn` when virtual time reaches `ms` after the start. */
  at(ms: number, fn: () => void): void {
    this.#timers.push({ at: this.#start + ms, fn });
    this.#timers.sort((a, b) => a.at - b.at);
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (signal?.aborted) return;
    const target = this.#now + ms;
    if (target - this.#start > this.#limitMs) {
      throw new Error(`FakeClock limit of ${this.#limitMs} ms exceeded`);
    }
    for (let timer = this.#timers[0]; timer && timer.at <= target; timer = this.#timers[0]) {
      this.#timers.shift();
      this.#now = Math.max(this.#now, timer.at);
      timer.fn();
      if (signal?.aborted) return;
    }
    this.#now = target;
    // Let I/O and other tasks run, as a real sleep would.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** A deterministic uniform source in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return function random(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
