// Resilience (seed 004): CircuitBreaker, RateLimiter, RequestQueue, ProviderPool and
// ProviderFailover. The decisions (admit, reject, wait, whose turn, which provider next) are the
// core's: resilience4j's breaker, exact sliding-window rate limits, a priority queue with aging,
// the router's strategies and failover. The protected functions run here in JS; only their
// admission and outcome cross into the core.

import {
  AbortToken,
  NativeCircuitBreaker,
  NativeLimiterSet,
  NativeProviderRoute,
  NativeRequestQueue,
  breakerRecord,
  breakerTryAcquire,
  isRetryable,
  limiterTryAcquire,
  type ProviderOutcome,
  type RouteResult,
} from '../native/index.js';
import {
  CancelledError,
  CircuitOpenError,
  ERROR_CLASSES,
  InternalError,
  InvalidInputError,
  ProviderError,
  TrinityError,
  call,
  toTrinityError,
  type ErrorCode,
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

/** `count` failures among the last `window` calls, as the core's rate-based count window. */
function countThreshold(what: string, count: number, window: number): BreakerOptions {
  if (!(Number.isInteger(count) && Number.isInteger(window) && count >= 1 && window >= count)) {
    throw new InvalidInputError(`${what}: expected integers 1 <= count <= window`, { count, window });
  }
  return { windowType: 'count', windowSize: window, minimumCalls: count, failureRateThreshold: count / window };
}

/** The states of `breakerTryAcquire`'s rejection code, in the core's words. */
const REJECTED_STATES = ['open', 'half_open', 'forced_open'] as const;

/** A breaker's transition, as `onStateChange` listeners receive it. */
export interface BreakerStateChange {
  readonly breaker: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** The window's rates when it changed. */
  readonly failureRate: number;
  readonly slowCallRate: number;
}

/** The native breaker of a CircuitBreaker, for the provider route (module-private). */
let nativeBreaker: (b: CircuitBreaker) => NativeCircuitBreaker;

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
  static {
    nativeBreaker = (b) => b.#native;
  }

  readonly #native: NativeCircuitBreaker;
  /** The native object's number for the hot calls (free functions cost less than methods). */
  readonly #h: number;
  readonly #name: string;
  readonly #isFailure: (error: unknown) => boolean;

  constructor(options: CircuitBreakerOptions = {}) {
    const { name, isFailure, ...settings } = options;
    this.#native = call(() => new NativeCircuitBreaker(name, settings));
    this.#h = this.#native.handle;
    this.#name = this.#native.name;
    this.#isFailure = isFailure ?? defaultIsFailure;
  }

  get name(): string {
    return this.#name;
  }

  /** Runs `fn` under the breaker; its result or error passes through unchanged. */
  async execute<T>(fn: () => Promise<T> | T): Promise<T> {
    const ticket = this.tryAcquire();
    let value: T;
    try {
      value = await fn();
    } catch (e) {
      breakerRecord(this.#h, ticket, this.#isFailure(e) ? FAILURE : CANCELLED);
      throw e;
    }
    breakerRecord(this.#h, ticket, SUCCESS);
    return value;
  }

  /**
   * Admission without a function: returns a ticket to hand to `record`, or throws
   * `CircuitOpenError`. A ticket never recorded holds a half-open probe slot.
   */
  tryAcquire(): number {
    let ticket: number;
    try {
      ticket = breakerTryAcquire(this.#h);
    } catch (e) {
      throw toTrinityError(e);
    }
    if (ticket < 0) throw this.#openError(-1 - ticket);
    return ticket;
  }

  /** The core's `circuit_open` error, as the core words it, from `retry_after_ms * 4 + state`. */
  #openError(code: number): CircuitOpenError {
    const state = REJECTED_STATES[code % 4] ?? 'open';
    return new CircuitOpenError(`circuit breaker '${this.#name}' is ${state}`, {
      breaker: this.#name,
      state,
      retry_after_ms: Math.floor(code / 4),
    });
  }

  /** Records how the call of `ticket` ended; `cancelled` counts as neither. False for an unknown ticket. */
  record(ticket: number, outcome: 'success' | 'failure' | 'cancelled'): boolean {
    return breakerRecord(this.#h, ticket, outcome === 'success' ? SUCCESS : outcome === 'failure' ? FAILURE : CANCELLED);
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
    this.configure(countThreshold('setFailureThreshold', count, window));
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

  /**
   * Calls `listener` after every state change (from the core, whoever made the call: `execute`,
   * a provider route, `setState`). Called on the event loop soon after the change, never inside
   * the breaker; a listener that throws is reported as an uncaught exception. It does not keep
   * the process alive.
   */
  onStateChange(listener: (change: BreakerStateChange) => void): void {
    this.#native.onStateChange((c) =>
      listener({ ...c, from: STATE_FROM_CORE[c.from] ?? 'closed', to: STATE_FROM_CORE[c.to] ?? 'closed' }),
    );
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

/** An admitted request, from `RateLimiter.admit`. */
export interface RateAdmission {
  readonly provider: string;
  /** The core's admission id (-1: the provider has no limits). */
  readonly id: number;
  /** The estimate it was admitted with. */
  readonly tokens: number;
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
  readonly #h = this.#native.handle;

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
      return limiterTryAcquire(this.#h, provider, tokens);
    } catch (e) {
      throw toTrinityError(e);
    }
  }

  /**
   * `allowRequest` for callers who learn the real token count later: the admission to hand to
   * `reconcile`, or null when not admitted now.
   */
  admit(provider: string, tokens = 0): RateAdmission | null {
    const id = call(() => this.#native.admit(provider, tokens));
    return id === -2 ? null : { provider, id, tokens };
  }

  /**
   * Replaces an admission's estimate with the tokens it really used (the core's
   * `RateLimiter::reconcile`), so an over-estimate frees its share of the window. A no-op once the
   * admission has left the window, or for a provider without limits.
   */
  reconcile(admission: RateAdmission, actualTokens: number): void {
    this.#native.reconcile(admission.provider, admission.id, actualTokens);
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
// Providers: ProviderPool and ProviderFailover over JS provider callbacks, routed by the core

/** Calls one provider with the task; abort work when `signal` fires (a race was won elsewhere). */
export type ProviderCallback<TTask, TResult> = (task: TTask, ctx: { provider: string; signal: AbortSignal }) => Promise<TResult>;

export interface ProviderSpec<TTask, TResult> {
  call: ProviderCallback<TTask, TResult>;
  /** Estimated cost of the task in USD (for `executeCostOptimal`): a number or a function of the task. */
  cost?: number | ((task: TTask) => number);
  /** For a `weighted` route (default 1). */
  weight?: number;
}

export type ProviderEntry<TTask, TResult> = ProviderCallback<TTask, TResult> | ProviderSpec<TTask, TResult>;

/** The core's retry policy per provider (config section `retry`). Default: one attempt, then the next provider. */
export interface ProviderRetryOptions {
  maxAttempts?: number;
  baseMs?: number;
  capMs?: number;
  jitter?: 'full' | 'decorrelated' | 'none';
  /** A Retry-After (`details.retry_after_ms`) longer than this is not waited for. */
  maxRetryAfterMs?: number;
}

export interface ProvidersOptions<TTask, TResult> {
  providers?: Record<string, ProviderEntry<TTask, TResult>>;
  /** Each provider's breaker (default: the core defaults). */
  breaker?: BreakerOptions;
  retry?: ProviderRetryOptions;
  /**
   * Overrides the core's classification of a provider's error as `details.should_retry` (the
   * `x-should-retry` header's meaning): true retries it (and fails over), false does not retry
   * the same provider. Default: the core's `is_retryable` — rate limits, timeouts, network
   * errors, provider errors with status 5xx/408/409 or none go on; invalid input, auth, not
   * found, context too large (400-like) are final. Plain errors become `provider` errors with
   * their `.status`.
   */
  isRetryable?: (error: unknown) => boolean;
}

export interface ProviderResult<TResult> {
  readonly provider: string;
  readonly value: TResult;
  readonly latencyMs: number;
  /** Calls that failed, and providers skipped, before the answer (in the order given). */
  readonly attempts: readonly ProviderAttempt[];
}

export interface ProviderAttempt {
  readonly provider: string;
  /** `skipped`: its breaker was open, so the route did not call it. */
  readonly outcome: 'failed' | 'skipped';
  readonly error: TrinityError;
}

export type SettledProvider<TResult> =
  | { readonly provider: string; readonly ok: true; readonly value: TResult; readonly latencyMs: number }
  | { readonly provider: string; readonly ok: false; readonly error: TrinityError; readonly latencyMs: number };

/** The core's `is_retryable` (resilience/retry.rs) over a JS error: worth another attempt at the same provider. */
export function isRetryableError(e: unknown): boolean {
  const t = asTrinity(e);
  return isRetryable(t.code, t.details ?? null);
}

/** What a provider threw, as the TrinityError the core classifies. */
function asTrinity(e: unknown): TrinityError {
  if (e instanceof TrinityError) return e;
  if (isAbort(e)) return new CancelledError(e instanceof Error ? e.message : 'aborted', undefined, { cause: e });
  const msg = e instanceof Error ? e.message : String(e);
  const status = (e as { status?: unknown } | null)?.status;
  return new ProviderError(msg, typeof status === 'number' ? { status } : undefined, { cause: e });
}

/** One call of a provider by the route. */
interface Call<TResult> {
  readonly provider: string;
  readonly position: number;
  readonly ctl: AbortController & { dispose(): void };
  settled: boolean;
  value?: TResult;
  error?: unknown;
  latencyMs: number;
}

/**
 * The calls of one routed request: the callback the core calls per attempt runs the provider,
 * keeps its value or error here under a token, and reports the outcome.
 */
class Calls<TTask, TResult> {
  readonly calls = new Map<number, Call<TResult>>();
  #next = 0;

  constructor(
    readonly names: readonly string[],
    private readonly specs: (index: number) => { name: string; spec: ProviderSpec<TTask, TResult> },
    private readonly positions: ReadonlyMap<number, number>,
    private readonly task: TTask,
    private readonly parent: AbortSignal | undefined,
    private readonly isRetryable: ((error: unknown) => boolean) | undefined,
  ) {}

  /** Set once the route has answered: a call the core queued before that is not made. */
  done = false;

  readonly callback = async (index: number): Promise<ProviderOutcome> => {
    const token = this.#next++;
    if (this.done || this.parent?.aborted === true) return { ok: false, token, code: 'cancelled', message: 'the call was aborted' };
    const ctl = linked(this.parent);
    const started = performance.now();
    try {
      const { name, spec } = this.specs(index);
      const call: Call<TResult> = { provider: name, position: this.positions.get(index) ?? 0, ctl, settled: false, latencyMs: 0 };
      this.calls.set(token, call);
      try {
        call.value = await spec.call(this.task, { provider: name, signal: ctl.signal });
        return { ok: true, token };
      } catch (e) {
        call.error = e;
        const t = asTrinity(e);
        let details: Record<string, unknown> | undefined = t.details === undefined ? undefined : { ...t.details };
        if (this.isRetryable !== undefined) details = { ...details, should_retry: this.isRetryable(e) };
        return { ok: false, token, code: t.code, message: t.message, ...(details === undefined ? {} : { details }) };
      } finally {
        call.settled = true;
        call.latencyMs = performance.now() - started;
      }
    } catch (e) {
      const t = asTrinity(e);
      return { ok: false, token, code: t.code, message: t.message };
    } finally {
      ctl.dispose();
    }
  };

  /** The route answered: aborts the signal of every call still running except `keep` (a race was won). */
  finish(keep: number | undefined): void {
    this.done = true;
    this.abortOthers(keep);
  }

  /** Aborts the signal of every call still running except `keep`. */
  abortOthers(keep: number | undefined): void {
    for (const [token, c] of this.calls) if (token !== keep && !c.settled) c.ctl.abort();
  }

  /** Failed calls and skipped providers, by position in `names`, leaving out `winner`. */
  attempts(breaker: (name: string) => CircuitBreaker, winner?: number): ProviderAttempt[] {
    const out: ProviderAttempt[] = [];
    const called = new Set<number>();
    for (const c of this.calls.values()) called.add(c.position);
    this.names.forEach((name, position) => {
      if (!called.has(position)) {
        const state = breaker(name).getState();
        if (state === 'open' || state === 'forced-open') {
          out.push({ provider: name, outcome: 'skipped', error: new CircuitOpenError(`circuit breaker '${name}' is ${state}`, { breaker: name, state }) });
        }
        return;
      }
      for (const [token, c] of this.calls) {
        if (c.position === position && token !== winner && c.error !== undefined) out.push({ provider: name, outcome: 'failed', error: asTrinity(c.error) });
      }
    });
    return out;
  }

  /** The core's final error as a TrinityError, with the provider's own error as `cause`. */
  error(r: RouteResult, attempts?: readonly ProviderAttempt[]): TrinityError {
    const cause = r.token == null ? undefined : this.calls.get(r.token)?.error;
    const code = (r.code ?? 'internal') as ErrorCode;
    const Kind = ERROR_CLASSES[code] ?? InternalError;
    let details = (r.details ?? undefined) as ErrorDetails | undefined;
    if (attempts !== undefined && attempts.length > 0) {
      details = {
        ...details,
        providers: attempts.map((a) => ({ provider: a.provider, outcome: a.outcome, code: a.error.code, message: a.error.message })),
      };
    }
    return new Kind(r.message ?? code, details, cause === undefined ? undefined : { cause });
  }
}

/**
 * What ProviderFailover and ProviderPool share: named providers, each with its own core breaker,
 * routed by the core router (`NativeProviderRoute`): strategy, breaker admission and recording,
 * retries and failover are decided there exactly as for `Client.chat`.
 */
export abstract class ProviderGroup<TTask, TResult> {
  readonly #specs = new Map<string, ProviderSpec<TTask, TResult>>();
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #index = new Map<string, number>();
  readonly #names: string[] = [];
  readonly #route: NativeProviderRoute;
  #breakerOptions: BreakerOptions;
  readonly #isRetryable: ((error: unknown) => boolean) | undefined;

  constructor(options: ProvidersOptions<TTask, TResult> = {}) {
    this.#breakerOptions = { ...options.breaker };
    this.#isRetryable = options.isRetryable;
    this.#route = call(() => new NativeProviderRoute('failover', options.retry ?? {}));
    for (const [name, entry] of Object.entries(options.providers ?? {})) this.addProvider(name, entry);
  }

  /** Adds (or replaces the callback of) a provider; its breaker is kept across replacements. */
  addProvider(name: string, provider: ProviderEntry<TTask, TResult>): this {
    const spec = typeof provider === 'function' ? { call: provider } : provider;
    if (!this.#breakers.has(name)) {
      const breaker = new CircuitBreaker({ ...this.#breakerOptions, name });
      const index = call(() => this.#route.addProvider(name, nativeBreaker(breaker), spec.weight ?? 1));
      this.#breakers.set(name, breaker);
      this.#index.set(name, index);
      this.#names[index] = name;
    }
    this.#specs.set(name, spec);
    return this;
  }

  /** The breaker of `provider` (state, stats, manual `setState`, `onStateChange`). */
  breaker(provider: string): CircuitBreaker {
    this.spec(provider);
    return this.#breakers.get(provider)!;
  }

  protected get breakerOptions(): Readonly<BreakerOptions> {
    return this.#breakerOptions;
  }

  /** Changes the settings of every provider's breaker, and of those added later. */
  protected configureBreakers(options: BreakerOptions): void {
    this.#breakerOptions = { ...this.#breakerOptions, ...options };
    for (const b of this.#breakers.values()) b.configure(options);
  }

  protected spec(name: string): ProviderSpec<TTask, TResult> {
    const s = this.#specs.get(name);
    if (s === undefined) throw new InvalidInputError(`unknown provider '${name}'`, { provider: name, known: [...this.#specs.keys()] });
    return s;
  }

  #calls(task: TTask, names: readonly string[], signal: AbortSignal | undefined): { calls: Calls<TTask, TResult>; members: number[] } {
    const members = names.map((n) => {
      this.spec(n);
      return this.#index.get(n)!;
    });
    const positions = new Map<number, number>();
    members.forEach((m, i) => positions.has(m) || positions.set(m, i));
    const specs = (index: number) => {
      const name = this.#names[index]!;
      return { name, spec: this.spec(name) };
    };
    return { calls: new Calls(names, specs, positions, task, signal, this.#isRetryable), members };
  }

  /**
   * One answer for `task` over `names` by `strategy` (the core's `Route::execute`). A final
   * error, or the last one when every provider failed, is thrown as its TrinityError class with
   * `details.providers` listing the attempts and the provider's own error as `cause`.
   */
  protected async route(
    task: TTask,
    names: readonly string[],
    how: { strategy: string; costs?: (number | null)[]; maxCostUsd?: number },
    options: PoolOptions = {},
  ): Promise<ProviderResult<TResult>> {
    if (names.length === 0) throw new InvalidInputError('no providers to try');
    const { calls, members } = this.#calls(task, names, options.signal);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => calls.abortOthers(undefined), options.timeoutMs);
    let r: RouteResult;
    try {
      r = await withToken(options.signal, (t) => this.#route.execute(calls.callback, { members, ...how }, t));
    } catch (e) {
      calls.finish(undefined);
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    const winner = r.ok ? (r.token ?? undefined) : undefined;
    calls.finish(winner);
    const attempts = calls.attempts((n) => this.#breakers.get(n)!, winner);
    if (!r.ok || winner === undefined) throw calls.error(r, attempts);
    const c = calls.calls.get(winner)!;
    return { provider: c.provider, value: c.value as TResult, latencyMs: c.latencyMs, attempts };
  }

  /** Every provider at once (the core's `Route::execute_all`), settled in the order given. */
  protected async routeAll(task: TTask, names: readonly string[], options: PoolOptions = {}): Promise<SettledProvider<TResult>[]> {
    const { calls, members } = this.#calls(task, names, options.signal);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => calls.abortOthers(undefined), options.timeoutMs);
    let rs: RouteResult[];
    try {
      rs = await withToken(options.signal, (t) => this.#route.executeAll(calls.callback, { members, strategy: 'parallel' }, t));
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      calls.finish(undefined);
    }
    return rs.map((r, i): SettledProvider<TResult> => {
      const c = r.token == null ? undefined : calls.calls.get(r.token);
      const provider = names[i]!;
      if (r.ok && c !== undefined) return { provider, ok: true, value: c.value as TResult, latencyMs: c.latencyMs };
      return { provider, ok: false, error: calls.error(r), latencyMs: c?.latencyMs ?? 0 };
    });
  }
}

export interface FailoverOptions<TTask, TResult> extends ProvidersOptions<TTask, TResult> {}

/**
 * Tries the primary, then the fallbacks in order (the core router's `failover` strategy). A
 * provider whose breaker is open is skipped; a retryable error (503-like) moves on to the next;
 * a final error (400-like) is thrown at once. When all fail: the last error's class (or
 * `CircuitOpenError` if every breaker was open) with `details.providers` listing each attempt.
 */
export class ProviderFailover<TTask = unknown, TResult = unknown> extends ProviderGroup<TTask, TResult> {
  async execute(task: TTask, primary: string, fallbacks: readonly string[] = [], opts?: QueueCallOptions): Promise<ProviderResult<TResult>> {
    return this.route(task, [primary, ...fallbacks], { strategy: 'failover' }, { signal: opts?.signal });
  }

  /**
   * A provider is skipped after `count` retryable errors among its last `window` calls
   * (`CircuitBreaker.setFailureThreshold` on each provider's breaker).
   */
  setErrorThreshold(count: number, window: number): void {
    this.configureBreakers(countThreshold('setErrorThreshold', count, window));
  }

  /**
   * Calls slower than `ms` count as slow; a provider is skipped once the slow-call rate in its
   * window reaches its failure-rate threshold (its breaker's `slowCallMs` and `slowCallRateThreshold`).
   */
  setLatencyThreshold(ms: number): void {
    const threshold = this.breakerOptions.failureRateThreshold ?? 0.5;
    this.configureBreakers({ slowCallMs: ms, slowCallRateThreshold: threshold });
  }
}

export interface PoolOptions {
  /** Aborts the `signal` given to every provider call still running after this many ms. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Runs a task over several providers through the core router: all at once (`executeParallel`),
 * the first good answer (`executeRaceFirst`, the others aborted), or the cheapest providers
 * first (`executeCostOptimal`). Every call goes through the provider's breaker.
 */
export class ProviderPool<TTask = unknown, TResult = unknown> extends ProviderGroup<TTask, TResult> {
  /** Every provider at once; settles when all have, in the order given. Never rejects for a provider's error. */
  async executeParallel(task: TTask, providers: readonly string[], options: PoolOptions = {}): Promise<SettledProvider<TResult>[]> {
    return this.routeAll(task, providers, options);
  }

  /**
   * Starts every provider at once and resolves with the first good answer; the others get
   * their signal aborted. Any error, final or not, only rules its provider out; when all fail it
   * rejects with the last error, as `ProviderFailover` does.
   */
  async executeRaceFirst(task: TTask, providers: readonly string[], options: PoolOptions = {}): Promise<ProviderResult<TResult>> {
    if (providers.length === 0) throw new InvalidInputError('no providers to race');
    return this.route(task, providers, { strategy: 'race' }, options);
  }

  /**
   * Fails over through `providers` from the cheapest estimated cost up, leaving out those above
   * `maxCost` (USD); providers without a cost estimate come last. None within the budget:
   * `BudgetExceededError`.
   */
  async executeCostOptimal(task: TTask, providers: readonly string[], maxCost: number, options: PoolOptions = {}): Promise<ProviderResult<TResult>> {
    const costs = providers.map((name) => {
      const c = this.spec(name).cost;
      return (typeof c === 'function' ? c(task) : c) ?? null;
    });
    return this.route(task, providers, { strategy: 'cost', costs, maxCostUsd: maxCost }, options);
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
