// Provider health (seed 004's ProviderMonitor): windows, percentiles, states with hysteresis and
// the callbacks are the core's (client.monitor); this file gives them seed 004's names.

import type { NativeProviderMonitor } from '../native/index.js';
import { call } from './errors';

export type ProviderState = 'unknown' | 'healthy' | 'degraded' | 'down';

/** A provider's figures over the live window (`monitor.window_s`). */
export interface ProviderHealth {
  readonly provider: string;
  readonly state: ProviderState;
  /** When it entered its state, ms since the Unix epoch. */
  readonly sinceMs: number;
  readonly windowS: number;
  readonly requests: number;
  /** Attempts that answered. */
  readonly answered: number;
  /** 5xx, timeouts and network errors: a 429 or the caller's 4xx is not a failure. */
  readonly failures: number;
  readonly rateLimited: number;
  readonly errorRate: number | null;
  /** Mean latency of answered attempts, ms. */
  readonly latencyMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly minMs: number | null;
  readonly maxMs: number | null;
  readonly requestsPerMinute: number;
  /** Output tokens per second of generation, over answers that reported usage. */
  readonly tokensPerSecond: number | null;
  /** Share of the last hour the provider was not down. */
  readonly availability: number;
  /** Incidents (degraded or down) that ended, and their mean length in ms. */
  readonly recoveries: number;
  readonly avgErrorRecoveryMs: number | null;
  readonly queueDepth: number;
  readonly consecutiveFailures: number;
}

/** One history bucket (`monitor.history_bucket_s`). */
export interface HistoryPoint {
  readonly startMs: number;
  readonly endMs: number;
  readonly requests: number;
  readonly failures: number;
  readonly errorRate: number | null;
  readonly latencyMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly tokensPerSecond: number | null;
}
export type LatencyData = HistoryPoint[];
export type ErrorData = HistoryPoint[];

/** What a callback gets. */
export interface MonitorEvent {
  readonly kind: 'state_change' | 'provider_down' | 'high_latency' | 'high_error_rate';
  readonly provider: string;
  readonly from: ProviderState;
  readonly to: ProviderState;
  /** The figure that crossed its threshold (p95 ms, error rate). */
  readonly value?: number;
  readonly threshold?: number;
  readonly atMs: number;
  readonly health: ProviderHealth;
}

type Listener = (event: MonitorEvent) => void;

/** Seed 003's summary of one figure. */
export interface Summary {
  readonly count: number;
  readonly average: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** One provider's row of `PerformanceMetrics.report()`. */
export interface ProviderPerformance {
  readonly latencyMs: Summary;
  readonly p95LatencyMs: number | null;
  readonly p99LatencyMs: number | null;
  readonly requestsPerMinute: number;
  readonly tokensPerSecond: number | null;
  readonly errorRate: number | null;
  readonly avgErrorRecoveryMs: number | null;
}

/**
 * Seed 004's `PerformanceMetrics` per provider over the monitor's window (`client.performance`);
 * times in ms, `NaN` before anything was seen of the provider (or, for the recovery time, before
 * an incident ended).
 */
export class PerformanceMetrics {
  readonly #monitor: ProviderMonitor;
  readonly #report: (format: string, hours: number) => string | Buffer;

  constructor(monitor: ProviderMonitor, report: (format: string, hours: number) => string | Buffer) {
    this.#monitor = monitor;
    this.#report = report;
  }

  /**
   * The providers over the last `hours`, the circuit breakers and the calls in the request log:
   * `'html'` is one self-contained page (inline SVG charts, no script, no CDN) as a string,
   * `'pdf'` an A4 document (text extractable) as a Buffer. Another format throws
   * `InvalidInputError`.
   */
  generateReport(format?: 'html', hours?: number): string;
  generateReport(format: 'pdf', hours?: number): Buffer;
  generateReport(format: 'html' | 'pdf' = 'html', hours = 24): string | Buffer {
    return call(() => this.#report(format, hours));
  }

  #figure(provider: string, pick: (h: ProviderHealth) => number | null): number {
    const h = this.#monitor.getHealth(provider);
    return h ? pick(h) ?? NaN : NaN;
  }

  avgLatency(provider: string): number {
    return this.#figure(provider, (h) => h.latencyMs);
  }

  p95Latency(provider: string): number {
    return this.#figure(provider, (h) => h.p95Ms);
  }

  p99Latency(provider: string): number {
    return this.#figure(provider, (h) => h.p99Ms);
  }

  requestsPerMinute(provider: string): number {
    return this.#figure(provider, (h) => h.requestsPerMinute);
  }

  tokensPerSecond(provider: string): number {
    return this.#figure(provider, (h) => h.tokensPerSecond);
  }

  errorRate(provider: string): number {
    return this.#figure(provider, (h) => h.errorRate);
  }

  avgErrorRecoveryTime(provider: string): number {
    return this.#figure(provider, (h) => h.avgErrorRecoveryMs);
  }

  /** Every provider's figures, seed 003's `{count, average, min, max}` for latency. */
  report(): Record<string, ProviderPerformance> {
    const out: Record<string, ProviderPerformance> = {};
    for (const h of this.#monitor.snapshot()) {
      out[h.provider] = {
        latencyMs: { count: h.answered, average: h.latencyMs, min: h.minMs, max: h.maxMs },
        p95LatencyMs: h.p95Ms,
        p99LatencyMs: h.p99Ms,
        requestsPerMinute: h.requestsPerMinute,
        tokensPerSecond: h.tokensPerSecond,
        errorRate: h.errorRate,
        avgErrorRecoveryMs: h.avgErrorRecoveryMs,
      };
    }
    return out;
  }
}

/**
 * Provider health from every attempt the client makes (and `monitor.health_checks`). Listeners
 * run on the JS thread after the evaluation that fired them, never on a call's path, once per
 * crossing of their threshold.
 */
export class ProviderMonitor {
  readonly #native: NativeProviderMonitor;

  constructor(native: NativeProviderMonitor) {
    this.#native = native;
  }

  #health(provider: string): ProviderHealth | null {
    return this.#native.health(provider) as ProviderHealth | null;
  }

  /** Mean latency of answered attempts over the window, ms; `NaN` before any. */
  getLatency(provider: string): number {
    return this.#health(provider)?.latencyMs ?? NaN;
  }

  /** Failed attempts / attempts over the window; `NaN` before any. */
  getErrorRate(provider: string): number {
    return this.#health(provider)?.errorRate ?? NaN;
  }

  /** Share of the last hour the provider was not down; `NaN` if never seen. */
  getAvailability(provider: string): number {
    return this.#health(provider)?.availability ?? NaN;
  }

  /** Attempts in flight at `provider` plus requests waiting in its queue. */
  getQueueDepth(provider: string): number {
    return this.#native.queueDepth(provider);
  }

  getHistoricalLatency(provider: string, hours: number): LatencyData {
    return this.#native.history(provider, hours) as unknown as LatencyData;
  }

  getHistoricalErrorRate(provider: string, hours: number): ErrorData {
    return this.#native.history(provider, hours) as unknown as ErrorData;
  }

  getState(provider: string): ProviderState {
    return this.#native.state(provider) as ProviderState;
  }

  getHealth(provider: string): ProviderHealth | null {
    return this.#health(provider);
  }

  snapshot(): ProviderHealth[] {
    return this.#native.snapshot() as unknown as ProviderHealth[];
  }

  onStateChange(callback: Listener): void {
    this.#on('stateChange', null, null, callback);
  }

  onProviderDown(provider: string | null, callback: Listener): void {
    this.#on('down', provider, null, callback);
  }

  /** When `provider`'s p95 latency over the window reaches `thresholdMs`. */
  onHighLatency(provider: string | null, thresholdMs: number, callback: Listener): void {
    this.#on('highLatency', provider, thresholdMs, callback);
  }

  /** When `provider`'s error rate over the window reaches `threshold` (0..1). */
  onHighErrorRate(provider: string | null, threshold: number, callback: Listener): void {
    this.#on('highErrorRate', provider, threshold, callback);
  }

  #on(kind: string, provider: string | null, threshold: number | null, callback: Listener): void {
    call(() => this.#native.on(kind, provider, threshold, (e: unknown) => callback(e as MonitorEvent)));
  }
}
