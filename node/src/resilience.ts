// Resilience (seed 004): CircuitBreaker, RateLimiter, RequestQueue, ProviderPool and
// ProviderFailover. The decisions (admit, reject, wait, whose turn) are the core's: resilience4j's
// breaker, exact sliding-window rate limits, a priority queue with aging. The protected functions
// run here in JS; only their admission and outcome cross into the core.

import { AbortToken, NativeCircuitBreaker, NativeLimiterSet, NativeRequestQueue } from '../native/index.js';
import {
  BudgetExceededError,
  CancelledError,
  CircuitOpenError,
  InvalidInputError,
  ProviderError,
  TrinityError,
  call,
  toTrinityError,
  type ErrorDetails,
} from './errors';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** Outcome codes of `NativeCircuitBreaker.record`. */
const SUCCESS = 0;
const FAILURE = 1;
const CANCELLED = 2;

function isAbort(e: unknown): boolean {
  return e instanceof CancelledError || (e instanceof Error && e.name === 'AbortError');
}

/** Runs `work` with a native AbortToken that follows `signal` (none when there is no signal). */
async function withToken<T>(signal: AbortSignal | undefined, work: (t: AbortToken | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) {
    try {
      return await work(undefined);
    } catch (e) {
      throw toTrinityError(e);
    }
  }
  if (signal.aborted) throw new CancelledError('the call was aborted');
  const token = new AbortToken();
  const abort = (): void => token.abort();
  signal.addEventListener('abort', abort, { once: true });
  try {
    return await work(token);
  } catch (e) {
    throw toTrinityError(e);
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

// ---------------------------------------------------------------------------------------------
// CircuitBreaker

/** Seed 004's states, plus the two set by hand. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'forced-open' | 'disabled';

/**
 * The core breaker's settings (config section `breaker`), each optional. The defaults: a count
 * window of the last 20 calls, evaluated from 10 calls on, opening at a failure rate of 0.5;
 * calls slower than 30 s are slow, and a slow-call rate of 1.0 opens it too; open for 30 s, then
 * 3 half-open probes decide (their failure rate below the threshold closes it, else it reopens).
 */
export interface BreakerOptions {
  /** `count`: the last `windowSize` calls; `time`: the calls of the last `windowSize` seconds. */
  windowType?: 'count' | 'time';
  windowSize?: number;
  /** No decision before this many calls are in the window. */
  minimumCalls?: number;
  /** (0, 1]: opens when the window's failure rate is at or above it. */
  failureRateThreshold?: number;
  slowCallMs?: number;
  slowCallRateThreshold?: number;
  /** How long it stays open before letting probes through (seed 004's reset timeout). */
  openWaitMs?: number;
  /** Probes admitted while half-open; their outcomes close or reopen it. */
  halfOpenCalls?: number;
}

export interface CircuitBreakerOptions extends BreakerOptions {
  /** Named in `CircuitOpenError.details.breaker`. */
  name?: string;
  /**
   * Which errors count against the callee. Errors for which it returns false record nothing
   * (neither success nor failure). Default: every error except a cancellation
   * (`CancelledError`, `AbortError`).
   */
  isFailure?: (error: unknown) => boolean;
}

export type BreakerSettings = Readonly<Required<BreakerOptions>>;

export interface BreakerStats {
  readonly state: BreakerState;
  /** Calls in the window, and how many of them failed or were slow. */
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  readonly failureRate: number;
  readonly slowCallRate: number;
  /** Calls rejected since the breaker was made. */
  readonly notPermitted: number;
  /** Until the open breaker lets a probe through, else 0. */
  readonly retryAfterMs: number;
}

const STATE_FROM_CORE: Readonly<Record<string, BreakerState>> = {
  closed: 'closed',
  open: 'open',
  half_open: 'half-open',
  forced_open: 'forced-open',
  disabled: 'disabled',
};

function defaultIsFailure(e: unknown): boolean {
  return !isAbort(e);
}

/**
 * A circuit breaker over async functions. `execute(fn)` asks the core for admission (throws
 * `CircuitOpenError`, code `circuit_open`, with `details.retry_after_ms` when open), awaits `fn`,
 * and records its outcome. `tryAcquire`/`record` are the same two steps for callers that do not
 * wrap a single function.
 *
 * Seed 004's setters, mapped onto the core's settings:
 * - `setFailureThreshold(count, window)`: a count window of the last `window` calls with
 *   `minimumCalls = count` and `failureRateThreshold = count / window`. Once the window is full
 *   that is exactly "opens at `count` failures among the last `window` calls"; before, it opens
 *   when at least `count` calls are in and the failure rate reaches `count / window`
 *   (so `count` failures in a row open it at call `count`).
 * - `setResetTimeout(ms)`: `openWaitMs`, how long it stays open before probing.
 * - `setSuccessThreshold(n)`: `halfOpenCalls = n`; after `n` probes it closes if their failure
 *   rate is below the threshold (so `n` successes in a row always close it) and reopens otherwise.
 * Each setter restarts the window empty and keeps the state.
 */
export class CircuitBreaker {
  readonly #native: NativeCircuitBreaker;
  readonly #isFailure: (error: unknown) => boolean;

  constructor(options: CircuitBreakerOptions = {}) {
    const { name, isFailure, ...settings } = options;
    this.#native = call(() => new NativeCircuitBreaker(name, settings));
    this.#isFailure = isFailure ?? defaultIsFailure;
  }

  get name(): string {
    return this.#native.name;
  }

  /** Runs `fn` under the breaker; its result or error passes through unchanged. */
  async execute<T>(fn: () => Promise<T> | T): Promise<T> {
    let ticket: number;
    try {
      ticket = this.#native.tryAcquire();
    } catch (e) {
      throw toTrinityError(e);
    }
    let value: T;
    try {
      value = await fn();
    } catch (e) {
      this.#native.record(ticket, this.#isFailure(e) ? FAILURE : CANCELLED);
      throw e;
    }
    this.#native.record(ticket, SUCCESS);
    return value;
  }

  /**
   * Admission without a function: returns a ticket to hand to `record`, or throws
   * `CircuitOpenError`. A ticket never recorded holds a half-open probe slot.
   */
  tryAcquire(): number {
    try {
      return this.#native.tryAcquire();
    } catch (e) {
      throw toTrinityError(e);
    }
  }

  /** Records how the call of `ticket` ended; `cancelled` counts as neither. False for an unknown ticket. */
  record(ticket: number, outcome: 'success' | 'failure' | 'cancelled'): boolean {
    return this.#native.record(ticket, outcome === 'success' ? SUCCESS : outcome === 'failure' ? FAILURE : CANCELLED);
  }

  /** An open breaker whose wait is over reports `half-open`: its next call is a probe. */
  getState(): BreakerState {
    return STATE_FROM_CORE[this.#native.state()] ?? 'closed';
  }

  /**
   * Moves the breaker by hand. `closed` and `half-open` start fresh counts; `open` waits the
   * reset timeout, then probes; `forced-open` rejects until set otherwise; `disabled` admits
   * every call and records nothing.
   */
  setState(state: BreakerState): void {
    call(() => this.#native.setState(state));
  }

  /** See the class comment for the mapping onto the core's rate-based window. */
  setFailureThreshold(count: number, window: number): void {
    if (!(Number.isInteger(count) && Number.isInteger(window) && count >= 1 && window >= count)) {
      throw new InvalidInputError('setFailureThreshold: expected integers 1 <= count <= window', { count, window });
    }
    this.configure({ windowType: 'count', windowSize: window, minimumCalls: count, failureRateThreshold: count / window });
  }

  setResetTimeout(ms: number): void {
    this.configure({ openWaitMs: ms });
  }

  setSuccessThreshold(count: number): void {
    this.configure({ halfOpenCalls: count });
  }

  /** Changes any of the core settings (the window restarts empty; the state is kept). */
  configure(options: BreakerOptions): void {
    call(() => this.#native.configure(options));
  }

  settings(): BreakerSettings {
    return this.#native.settings() as BreakerSettings;
  }

  stats(): BreakerStats {
    const s = this.#native.stats();
    return { ...s, state: STATE_FROM_CORE[s.state] ?? 'closed' };
  }
}

// ---------------------------------------------------------------------------------------------
// RateLimiter

export interface LimiterStats {
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly requestsInWindow: number;
  readonly tokensInWindow: number;
  readonly remainingRequests: number | null;
  readonly remainingTokens: number | null;
  /** Until one more 1-token request would fit. */
  readonly retryAfterMs: number;
  readonly admitted: number;
  readonly rejected: number;
}

export interface QueueCallOptions {
  /** Aborting while waiting rejects with `CancelledError` and leaves the line. */
  signal?: AbortSignal | undefined;
}

/**
 * Requests and tokens per minute by provider: the core's exact sliding-window limits. A provider
 * without `setLimit` is unlimited. Waiters (`queue`) are served first come, first served, and
 * `allowRequest` never jumps ahead of them.
 */
export class RateLimiter {
  readonly #native = new NativeLimiterSet();

  /** `rpm`/`tpm` undefined or null: no limit of that kind. `windowMs` defaults to 60 000. */
  setLimit(provider: string, rpm?: number | null, tpm?: number | null, windowMs?: number): void {
    call(() => this.#native.setLimit(provider, rpm ?? undefined, tpm ?? undefined, windowMs));
  }

  /**
   * Admits one request of `tokens` now (counted against the limits) or returns false.
   * Synchronous (seed 004 has a Promise; a sync boolean is cheaper and `await` works on it).
   * A request larger than the whole token limit can never fit: `RateLimitedError` with
   * `details.retryable === false`.
   */
  allowRequest(provider: string, tokens = 0): boolean {
    try {
      return this.#native.tryAcquire(provider, tokens);
    } catch (e) {
      throw toTrinityError(e);
    }
  }

  /** Waits its turn for `tokens` under `provider`'s limits, then runs `fn`. */
  async queue<T>(provider: string, fn: () => Promise<T> | T, tokens = 0, opts?: QueueCallOptions): Promise<T> {
    await withToken(opts?.signal, (t) => this.#native.acquire(provider, tokens, t));
    return fn();
  }

  /** Tokens left in the current window; `Infinity` without a token limit. */
  getRemainingTokens(provider: string): number {
    return this.#native.stats(provider)?.remainingTokens ?? Infinity;
  }

  /** Requests left in the current window; `Infinity` without a request limit. */
  getRemainingRequests(provider: string): number {
    return this.#native.stats(provider)?.remainingRequests ?? Infinity;
  }

  /** Milliseconds until a request of `tokens` would be admitted; 0 when it would be now. */
  getRetryAfter(provider: string, tokens = 1): number {
    return this.#native.retryAfter(provider, tokens);
  }

  /** Null for a provider without limits. */
  stats(provider: string): LimiterStats | null {
    return this.#native.stats(provider) as LimiterStats | null;
  }

  providers(): string[] {
    return this.#native.names();
  }
}

// ---------------------------------------------------------------------------------------------
// RequestQueue

export interface RequestQueueOptions {
  /** Functions running at once (default 64). */
  maxConcurrency?: number;
  /** Waiters at most; one more rejects with `RateLimitedError`, `details.queue_full` (default 10 000). */
  maxLength?: number;
  /** Each `agingMs` of waiting counts as one step of priority, so nothing starves (default 5000). */
  agingMs?: number;
}

export interface QueueStats {
  readonly length: number;
  readonly inFlight: number;
  readonly maxConcurrency: number;
  readonly completed: number;
  readonly cancelled: number;
  readonly rejected: number;
  readonly averageWaitMs: number;
  readonly averageServiceMs: number;
  /** What a request enqueued now would wait: length x service time / concurrency. */
  readonly estimatedWaitMs: number;
  /** Completions per second since the first request. */
  readonly throughputPerS: number;
}

/**
 * A priority queue with bounded concurrency. `enqueue(fn, priority)` waits in the core for a
 * slot (higher priority first, with aging), runs `fn` here, and frees the slot when it settles.
 */
export class RequestQueue {
  readonly #native: NativeRequestQueue;

  constructor(options: RequestQueueOptions = {}) {
    this.#native = call(() => new NativeRequestQueue(options));
  }

  /** Resolves or rejects with `fn`'s result; rejects with `CancelledError` if aborted while waiting. */
  async enqueue<T>(fn: () => Promise<T> | T, priority = 0, opts?: QueueCallOptions): Promise<T> {
    const permit = await withToken(opts?.signal, (t) => this.#native.acquire(priority, t));
    try {
      return await fn();
    } finally {
      this.#native.release(permit);
    }
  }

  /** Waiting, not running. */
  get length(): number {
    return this.#native.length;
  }

  get inFlight(): number {
    return this.#native.inFlight;
  }

  getQueueLength(): number {
    return this.#native.length;
  }

  getEstimatedWaitTime(): number {
    return this.#native.stats().estimatedWaitMs;
  }

  getAverageWaitTime(): number {
    return this.#native.stats().averageWaitMs;
  }

  /** Completions per second. */
  getThroughput(): number {
    return this.#native.stats().throughputPerS;
  }

  stats(): QueueStats {
    return this.#native.stats();
  }
}

// ---------------------------------------------------------------------------------------------
// Providers: ProviderPool and ProviderFailover over JS provider callbacks

/** Calls one provider with the task; abort work when `signal` fires (a race was won elsewhere). */
export type ProviderCallback<TTask, TResult> = (task: TTask, ctx: { provider: string; signal: AbortSignal }) => Promise<TResult>;

export interface ProviderSpec<TTask, TResult> {
  call: ProviderCallback<TTask, TResult>;
  /** Estimated cost of the task in USD (for `executeCostOptimal`): a number or a function of the task. */
  cost?: number | ((task: TTask) => number);
}

export type ProviderEntry<TTask, TResult> = ProviderCallback<TTask, TResult> | ProviderSpec<TTask, TResult>;

export interface ProvidersOptions<TTask, TResult> {
  providers?: Record<string, ProviderEntry<TTask, TResult>>;
  /** Each provider's breaker (default: the core defaults). */
  breaker?: BreakerOptions;
  /**
   * Whether an error lets the next provider try. Default: the core's classification — rate
   * limits, timeouts, network errors, provider errors with status 5xx/408/409 or none, and any
   * error with `details.retryable === true` go on; invalid input, auth, not found, context too
   * large (400-like) are final. Plain errors: by `.status` when present, else they go on.
   */
  isRetryable?: (error: unknown) => boolean;
}

export interface ProviderResult<TResult> {
  readonly provider: string;
  readonly value: TResult;
  readonly latencyMs: number;
  /** Providers tried before this one (skipped, or failed with a retryable error). */
  readonly attempts: readonly ProviderAttempt[];
}

export interface ProviderAttempt {
  readonly provider: string;
  /** `skipped`: its breaker was open. */
  readonly outcome: 'failed' | 'skipped';
  readonly error: TrinityError;
}

export type SettledProvider<TResult> =
  | { readonly provider: string; readonly ok: true; readonly value: TResult; readonly latencyMs: number }
  | { readonly provider: string; readonly ok: false; readonly error: TrinityError; readonly latencyMs: number };

const RETRYABLE_CODES = new Set(['rate_limited', 'timeout', 'network', 'circuit_open']);

/** The core's `is_retryable` (resilience/retry.rs), over JS errors. */
export function isRetryableError(e: unknown): boolean {
  const details = (e as { details?: ErrorDetails } | null)?.details;
  if (typeof details?.should_retry === 'boolean') return details.should_retry;
  if (details?.retryable === false) return false;
  const status = typeof details?.status === 'number' ? details.status : (e as { status?: unknown } | null)?.status;
  if (e instanceof TrinityError) {
    if (RETRYABLE_CODES.has(e.code)) return true;
    if (e.code !== 'provider') return false;
  }
  if (typeof status === 'number') return status >= 500 || status === 408 || status === 409 || status === 429;
  return !isAbort(e);
}

function asTrinity(e: unknown): TrinityError {
  if (e instanceof TrinityError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const status = (e as { status?: unknown } | null)?.status;
  return new ProviderError(msg, typeof status === 'number' ? { status } : undefined, { cause: e });
}

/** The providers, each with its own core breaker; shared by ProviderPool and ProviderFailover. */
class Providers<TTask, TResult> {
  readonly specs = new Map<string, ProviderSpec<TTask, TResult>>();
  readonly breakers = new Map<string, CircuitBreaker>();
  breakerOptions: BreakerOptions;
  readonly isRetryable: (error: unknown) => boolean;

  constructor(options: ProvidersOptions<TTask, TResult>) {
    this.breakerOptions = { ...options.breaker };
    this.isRetryable = options.isRetryable ?? isRetryableError;
    for (const [name, entry] of Object.entries(options.providers ?? {})) this.add(name, entry);
  }

  add(name: string, entry: ProviderEntry<TTask, TResult>): void {
    this.specs.set(name, typeof entry === 'function' ? { call: entry } : entry);
    if (!this.breakers.has(name)) {
      const isRetryable = this.isRetryable;
      this.breakers.set(
        name,
        new CircuitBreaker({ ...this.breakerOptions, name, isFailure: (e) => !isAbort(e) && isRetryable(e) }),
      );
    }
  }

  spec(name: string): ProviderSpec<TTask, TResult> {
    const s = this.specs.get(name);
    if (s === undefined) throw new InvalidInputError(`unknown provider '${name}'`, { provider: name, known: [...this.specs.keys()] });
    return s;
  }

  breaker(name: string): CircuitBreaker {
    this.spec(name);
    return this.breakers.get(name)!;
  }

  configure(options: BreakerOptions): void {
    this.breakerOptions = { ...this.breakerOptions, ...options };
    for (const b of this.breakers.values()) b.configure(options);
  }

  /** One attempt under the provider's breaker; throws what the provider threw, or `CircuitOpenError`. */
  async attempt(name: string, task: TTask, signal: AbortSignal): Promise<{ value: TResult; latencyMs: number }> {
    const spec = this.spec(name);
    const breaker = this.breakers.get(name)!;
    const started = performance.now();
    const value = await breaker.execute(() => spec.call(task, { provider: name, signal }));
    return { value, latencyMs: performance.now() - started };
  }

  /** Tries `order` one after the other until one answers; a final error ends it at once. */
  async failover(task: TTask, order: readonly string[], signal?: AbortSignal): Promise<ProviderResult<TResult>> {
    if (order.length === 0) throw new InvalidInputError('no providers to try');
    for (const name of order) this.spec(name);
    const attempts: ProviderAttempt[] = [];
    const sig = signal ?? new AbortController().signal;
    for (const name of order) {
      if (sig.aborted) throw new CancelledError('the call was aborted');
      try {
        const { value, latencyMs } = await this.attempt(name, task, sig);
        return { provider: name, value, latencyMs, attempts };
      } catch (e) {
        if (e instanceof CircuitOpenError) {
          attempts.push({ provider: name, outcome: 'skipped', error: e });
          continue;
        }
        if (isAbort(e) || !this.isRetryable(e)) throw e;
        attempts.push({ provider: name, outcome: 'failed', error: asTrinity(e) });
      }
    }
    throw allFailed(attempts);
  }
}

function allFailed(attempts: readonly ProviderAttempt[]): TrinityError {
  const last = attempts[attempts.length - 1]!.error;
  const details = {
    providers: attempts.map((a) => ({ provider: a.provider, outcome: a.outcome, code: a.error.code, message: a.error.message })),
  };
  const msg = `every provider failed (${attempts.map((a) => `${a.provider}: ${a.outcome === 'skipped' ? 'circuit open' : a.error.message}`).join('; ')})`;
  // Every breaker open: a circuit_open error, so callers can wait and retry.
  if (attempts.every((a) => a.outcome === 'skipped')) return new CircuitOpenError(msg, details, { cause: last });
  const failed = [...attempts].reverse().find((a) => a.outcome === 'failed')!.error;
  return new ProviderError(msg, { ...details, code: failed.code, ...(failed.details ?? {}) }, { cause: failed });
}

export interface FailoverOptions<TTask, TResult> extends ProvidersOptions<TTask, TResult> {}

/**
 * Tries the primary, then the fallbacks in order. A provider whose breaker is open is skipped;
 * a retryable error (503-like) moves on to the next; a final error (400-like) is thrown at once.
 * When all fail: `ProviderError` (`CircuitOpenError` if every breaker was open) with
 * `details.providers` listing each attempt, and the last error as `cause`.
 */
export class ProviderFailover<TTask = unknown, TResult = unknown> {
  readonly #providers: Providers<TTask, TResult>;

  constructor(options: FailoverOptions<TTask, TResult> = {}) {
    this.#providers = new Providers(options);
  }

  addProvider(name: string, provider: ProviderEntry<TTask, TResult>): this {
    this.#providers.add(name, provider);
    return this;
  }

  async execute(task: TTask, primary: string, fallbacks: readonly string[] = [], opts?: QueueCallOptions): Promise<ProviderResult<TResult>> {
    return this.#providers.failover(task, [primary, ...fallbacks], opts?.signal);
  }

  /**
   * A provider is skipped after `count` retryable errors among its last `window` calls
   * (`CircuitBreaker.setFailureThreshold` on each provider's breaker).
   */
  setErrorThreshold(count: number, window: number): void {
    if (!(Number.isInteger(count) && Number.isInteger(window) && count >= 1 && window >= count)) {
      throw new InvalidInputError('setErrorThreshold: expected integers 1 <= count <= window', { count, window });
    }
    this.#providers.configure({ windowType: 'count', windowSize: window, minimumCalls: count, failureRateThreshold: count / window });
  }

  /**
   * Calls slower than `ms` count as slow; a provider is skipped once the slow-call rate in its
   * window reaches its failure-rate threshold (its breaker's `slowCallMs` and `slowCallRateThreshold`).
   */
  setLatencyThreshold(ms: number): void {
    const threshold = this.#providers.breakerOptions.failureRateThreshold ?? 0.5;
    this.#providers.configure({ slowCallMs: ms, slowCallRateThreshold: threshold });
  }

  /** The breaker of `provider` (state, stats, manual `setState`). */
  breaker(provider: string): CircuitBreaker {
    return this.#providers.breaker(provider);
  }
}

export interface PoolOptions {
  /** Aborts the `signal` given to every provider call still running after this many ms. */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

/**
 * Runs a task over several providers: all at once (`executeParallel`), the first good answer
 * (`executeRaceFirst`, the others aborted), or the cheapest providers first
 * (`executeCostOptimal`). Every call goes through the provider's breaker.
 */
export class ProviderPool<TTask = unknown, TResult = unknown> {
  readonly #providers: Providers<TTask, TResult>;

  constructor(options: ProvidersOptions<TTask, TResult> = {}) {
    this.#providers = new Providers(options);
  }

  addProvider(name: string, provider: ProviderEntry<TTask, TResult>): this {
    this.#providers.add(name, provider);
    return this;
  }

  /** Every provider at once; settles when all have, in the order given. Never rejects for a provider's error. */
  async executeParallel(task: TTask, providers: readonly string[], options: PoolOptions = {}): Promise<SettledProvider<TResult>[]> {
    for (const name of providers) this.#providers.spec(name);
    const ctl = linked(options.signal);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => ctl.abort(), options.timeoutMs);
    try {
      return await Promise.all(
        providers.map(async (name): Promise<SettledProvider<TResult>> => {
          const started = performance.now();
          try {
            const { value, latencyMs } = await this.#providers.attempt(name, task, ctl.signal);
            return { provider: name, ok: true, value, latencyMs };
          } catch (e) {
            return { provider: name, ok: false, error: asTrinity(e), latencyMs: performance.now() - started };
          }
        }),
      );
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      ctl.dispose();
    }
  }

  /**
   * Starts every provider at once and resolves with the first good answer; the others get
   * their signal aborted. Any error, final or not, only rules its provider out; when all fail it
   * rejects as `ProviderFailover` does.
   */
  async executeRaceFirst(task: TTask, providers: readonly string[], options: PoolOptions = {}): Promise<ProviderResult<TResult>> {
    if (providers.length === 0) throw new InvalidInputError('no providers to race');
    for (const name of providers) this.#providers.spec(name);
    const ctl = linked(options.signal);
    const attempts: ProviderAttempt[] = [];
    try {
      return await new Promise<ProviderResult<TResult>>((resolve, reject) => {
        let pending = providers.length;
        for (const name of providers) {
          this.#providers.attempt(name, task, ctl.signal).then(
            ({ value, latencyMs }) => resolve({ provider: name, value, latencyMs, attempts }),
            (e: unknown) => {
              attempts.push({ provider: name, outcome: e instanceof CircuitOpenError ? 'skipped' : 'failed', error: asTrinity(e) });
              if (--pending === 0) reject(ctl.signal.aborted ? new CancelledError('the call was aborted') : allFailed(attempts));
            },
          );
        }
      });
    } finally {
      ctl.abort();
      ctl.dispose();
    }
  }

  /**
   * Fails over through `providers` from the cheapest estimated cost up, leaving out those above
   * `maxCost` (USD); providers without a cost estimate come last. None within the budget:
   * `BudgetExceededError`.
   */
  async executeCostOptimal(task: TTask, providers: readonly string[], maxCost: number, options: PoolOptions = {}): Promise<ProviderResult<TResult>> {
    const priced = providers.map((name, i) => {
      const c = this.#providers.spec(name).cost;
      return { name, i, cost: typeof c === 'function' ? c(task) : c };
    });
    const within = priced.filter((p) => p.cost === undefined || p.cost <= maxCost);
    if (within.length === 0) {
      throw new BudgetExceededError(`no provider within the budget of ${maxCost} USD`, {
        max_cost_usd: maxCost,
        costs: Object.fromEntries(priced.map((p) => [p.name, p.cost])),
      });
    }
    within.sort((a, b) => (a.cost ?? Infinity) - (b.cost ?? Infinity) || a.i - b.i);
    return this.#providers.failover(task, within.map((p) => p.name), options.signal);
  }

  /** The breaker of `provider`. */
  breaker(provider: string): CircuitBreaker {
    return this.#providers.breaker(provider);
  }
}

/** An AbortController that also aborts when `parent` does. */
function linked(parent: AbortSignal | undefined): AbortController & { dispose(): void } {
  const ctl = new AbortController() as AbortController & { dispose(): void };
  if (parent === undefined) {
    ctl.dispose = () => {};
    return ctl;
  }
  const abort = (): void => ctl.abort();
  if (parent.aborted) ctl.abort();
  else parent.addEventListener('abort', abort, { once: true });
  ctl.dispose = () => parent.removeEventListener('abort', abort);
  return ctl;
}
