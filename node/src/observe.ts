// Observability (seed 004): CostTracker and RequestLogger. The totals, queries, alerts, CSV,
// record schema, scrubbing and sink are the core's; this file gives them seed 004's names.

import { NativeCostTracker, NativeRequestLog, costTrackerTrackRequest, debugInfo as nativeDebugInfo } from '../native/index.js';
import { call } from './errors';

/** A time: a `Date` or ms since the Unix epoch. */
export type TimeLike = Date | number;

function ms(t: TimeLike): number {
  return t instanceof Date ? t.getTime() : t;
}

// ---------------------------------------------------------------------------------------------
// CostTracker

/** Totals over a range. Money is exact integer nano-USD inside; `usd` is the same in USD. */
export interface Cost {
  readonly usd: number;
  readonly nanoUsd: number;
  readonly requests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedTokens: number;
  /** Calls that could not be priced (unknown model, missing rate): when not 0, `usd` is a lower bound. */
  readonly unpricedRequests: number;
  /** Calls answered from the response cache. */
  readonly cacheHits: number;
}

/** A daily-limit alert (`kind: 'budget'`), or today's calls that could not be priced (`kind: 'unpriced'`). */
export interface Alert {
  readonly kind: 'budget' | 'unpriced';
  readonly severity: 'info' | 'warning' | 'critical';
  /** The fraction of the limit reached (0.5, 0.8, 1.0 by default; 0 for `unpriced`). */
  readonly threshold: number;
  /** The UTC day, `YYYY-MM-DD`. */
  readonly day: string;
  readonly spentUsd: number;
  readonly spentNanoUsd: number;
  readonly limitUsd: number;
  readonly fraction: number;
  readonly unpricedRequests: number;
  /** Next UTC midnight, epoch ms. */
  readonly resetsAtMs: number;
  readonly message: string;
}

/** A call already priced, as the client reports it. */
export interface CostRecord {
  timestampMs: number;
  provider: string;
  model: string;
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  /** `null`: the call could not be priced (counted, never summed as $0). */
  costNanoUsd?: number | null;
  cacheHit?: boolean;
}

export interface CostTrackerOptions {
  /** Minutes of totals kept (default 31 days). */
  retentionMinutes?: number;
  /** Distinct (provider, model) series before new ones are summed under `(other)` (default 10,000). */
  maxSeries?: number;
}

export interface CostTrackerStats {
  readonly buckets: number;
  readonly series: number;
  readonly dropped: number;
  readonly overflowed: number;
}

function costMap(obj: unknown): Map<string, Cost> {
  return new Map(Object.entries(obj as Record<string, Cost>));
}

/**
 * Seed 004's `CostTracker`: cost totals per minute per (provider, model), so memory stays
 * bounded whatever the traffic. Ranges are `[start, end)`, in whole minutes.
 */
export class CostTracker {
  readonly #native: NativeCostTracker;
  readonly #h: number;

  /** A new tracker; `Client.costs` passes the client's own native tracker instead. */
  constructor(options?: CostTrackerOptions | NativeCostTracker) {
    this.#native = options instanceof NativeCostTracker ? options : call(() => new NativeCostTracker(options));
    this.#h = this.#native.handle;
  }

  /**
   * Prices a call from the registry (`cacheHit`: cached input tokens) and adds it now.
   * Returns its cost in nano-USD, or `null` when the model or a rate is unknown (counted as
   * unpriced, never as $0). Synchronous; awaiting it works as seed 004's `Promise<void>`.
   */
  trackRequest(request: { model: string; inputTokens: number; outputTokens: number; cacheHit?: number }): number | null {
    return call(() =>
      costTrackerTrackRequest(this.#h, request.model, request.inputTokens, request.outputTokens, request.cacheHit),
    );
  }

  /** Adds a call already priced. */
  track(record: CostRecord): void {
    call(() => this.#native.track(record));
  }

  getCostByProvider(start: TimeLike, end: TimeLike): Map<string, Cost> {
    return costMap(call(() => this.#native.byProvider(ms(start), ms(end))));
  }

  getCostByModel(start: TimeLike, end: TimeLike): Map<string, Cost> {
    return costMap(call(() => this.#native.byModel(ms(start), ms(end))));
  }

  /** USD of the priced calls in `[start, end)` (see `getSummary` for the unpriced count). */
  getTotalCost(start: TimeLike, end: TimeLike): number {
    return this.getSummary(start, end).usd;
  }

  getSummary(start: TimeLike, end: TimeLike): Cost {
    return call(() => this.#native.total(ms(start), ms(end))) as Cost;
  }

  /** Alerts for today (UTC; `now` for another day) against `dailyLimit` USD: one per threshold reached. */
  getBudgetAlert(dailyLimit: number, options?: { now?: TimeLike; thresholds?: number[] }): Alert[] {
    const now = options?.now === undefined ? undefined : ms(options.now);
    return call(() => this.#native.budgetAlerts(dailyLimit, now, options?.thresholds)) as Alert[];
  }

  /** The minute buckets of `[start, end)` as RFC 4180 CSV with a header row. */
  exportCSV(start: TimeLike, end: TimeLike): string {
    return call(() => this.#native.exportCsv(ms(start), ms(end)));
  }

  stats(): CostTrackerStats {
    return this.#native.stats() as CostTrackerStats;
  }

  clear(): void {
    this.#native.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// RequestLogger

/** One deployment tried for a call. */
export interface Attempt {
  readonly provider: string;
  readonly model: string;
  readonly errorCode?: string;
  readonly latencyMs: number;
}

/** One call (schema version 1). Absent values are `null`. */
export interface LogEntry {
  readonly schemaVersion: number;
  readonly requestId: string;
  readonly providerRequestId: string | null;
  readonly timestampMs: number;
  readonly endTimestampMs: number | null;
  readonly status: 'success' | 'error' | 'pending';
  readonly errorCode: string | null;
  /** Scrubbed of API keys and bearer tokens. */
  readonly errorMessage: string | null;
  readonly httpStatus: number | null;
  readonly modelRequested: string;
  readonly providerRequested: string | null;
  readonly provider: string | null;
  readonly model: string | null;
  readonly route: string | null;
  readonly attempts: number;
  readonly attemptLog: Attempt[];
  readonly stream: boolean;
  readonly inputTokens: number;
  readonly cachedTokens: number;
  readonly cacheWriteTokens: number;
  readonly outputTokens: number;
  readonly reasoningTokens: number;
  readonly costUsd: number | null;
  readonly costNanoUsd: number | null;
  readonly costDetail: Record<string, unknown> | null;
  readonly unpricedReason: string | null;
  readonly latencyMs: number;
  readonly timeToFirstTokenMs: number | null;
  /** A stream's mean time between output chunks after the first. */
  readonly timePerOutputChunkMs: number | null;
  readonly queuedMs: number;
  readonly overheadMs: number | null;
  readonly cacheHit: boolean;
  readonly cacheTier: string | null;
  readonly user: string | null;
  /** Only with `logBodies: true`. */
  readonly messages: unknown;
  readonly response: string | null;
}

/** Seed 004's `DebugInfo`, derived from a record by `debugInfo(entry)`. */
export interface DebugInfo {
  readonly requestId: string;
  readonly provider: string;
  readonly model: string;
  /** End to end, ms. */
  readonly durationMs: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** USD; `null` when unpriced. */
  readonly cost: number | null;
  /** The provider's part, ms (duration less queueing and engine overhead). */
  readonly latencyMs: number;
  readonly timeToFirstTokenMs: number | null;
}

export interface RequestLoggerOptions {
  /** Records kept in memory (default 1000). */
  history?: number;
  /** Keep message bodies (default false). */
  logBodies?: boolean;
  /** Also append each record to a JSON Lines file, rotated past `maxBytes` (default 10 MiB) into `path.1` … `path.<maxFiles>` (default 5). */
  sink?: { path: string; maxBytes?: number; maxFiles?: number };
}

export interface LogQuery {
  /** `[start, end)` on the call's start time. */
  start?: TimeLike;
  end?: TimeLike;
  /** The served provider/model (the requested one for a call that failed before an answer). */
  provider?: string;
  model?: string;
  /** `success`, `error`, `pending`, or an error code (`timeout`). */
  status?: string;
  minLatencyMs?: number;
  /** The newest `limit` matches. */
  limit?: number;
}

/** What a request may carry: `model`, `provider`, `requestId`, `messages`, … (other keys are ignored). */
export type LoggedRequest = Record<string, unknown> & { model?: string; requestId?: string };

/** DebugInfo of a log entry. */
export function debugInfo(entry: Partial<LogEntry>): DebugInfo {
  return call(() => nativeDebugInfo(entry)) as DebugInfo;
}

/**
 * Seed 004's `RequestLogger`: one record per call, the last `history` kept, queryable, exported
 * as JSON or CSV. Bodies only with `logBodies`; error messages are scrubbed of keys.
 */
export class RequestLogger {
  readonly #native: NativeRequestLog;
  readonly #ids = new WeakMap<object, string>();

  /** A new log; `Client.requestLog` passes the client's own native log instead. */
  constructor(options?: RequestLoggerOptions | NativeRequestLog) {
    this.#native = options instanceof NativeRequestLog ? options : call(() => new NativeRequestLog(options));
  }

  /** A call starts; returns its request id (also remembered for this request object). */
  logRequest(request: LoggedRequest): string {
    const id = call(() => this.#native.logRequest(request));
    this.#ids.set(request, id);
    return id;
  }

  #id(request: LoggedRequest | string): string {
    if (typeof request === 'string') return request;
    return this.#ids.get(request) ?? (typeof request.requestId === 'string' ? request.requestId : this.logRequest(request));
  }

  /** The call answered: the response's fields (`usage`, `costNanoUsd`, `provider`, `latencyMs`…) complete its record. */
  logResponse(response: Record<string, unknown>, request: LoggedRequest | string): LogEntry {
    const id = this.#id(request);
    return call(() => this.#native.logResponse(id, response)) as LogEntry;
  }

  /** The call failed: the error's `code` (else `internal`) and message (scrubbed) complete its record. */
  logError(error: unknown, request: LoggedRequest | string): LogEntry {
    const id = this.#id(request);
    const e = error as { code?: unknown; message?: unknown; status?: unknown };
    const fields = {
      code: typeof e?.code === 'string' ? e.code : 'internal',
      message: typeof e?.message === 'string' ? e.message : String(error),
      ...(typeof e?.status === 'number' ? { httpStatus: e.status } : {}),
    };
    return call(() => this.#native.logError(id, fields)) as LogEntry;
  }

  /** Adds a finished call (missing fields take their defaults); returns its id. */
  record(entry: Partial<LogEntry>): string {
    return call(() => this.#native.record(entry));
  }

  /** The newest `limit` entries, oldest first. */
  getHistory(limit = 100): LogEntry[] {
    return this.#native.history(limit) as LogEntry[];
  }

  /** Entries matching every filter given, oldest first. */
  query(q: LogQuery = {}): LogEntry[] {
    const { start, end, ...rest } = q;
    const native = {
      ...rest,
      ...(start === undefined ? {} : { startMs: ms(start) }),
      ...(end === undefined ? {} : { endMs: ms(end) }),
    };
    return call(() => this.#native.query(native)) as LogEntry[];
  }

  /** The entries as `json` (an array), `jsonl` or `csv`, in the record schema's snake_case names. */
  exportLogs(format: 'json' | 'jsonl' | 'csv' = 'json'): string {
    return call(() => this.#native.export(format));
  }

  get size(): number {
    return this.#native.size;
  }

  /** Records the sink could not write (the calls themselves never fail for it). */
  get sinkErrors(): number {
    return this.#native.sinkErrors;
  }

  clear(): void {
    this.#native.clear();
  }
}
