// Run guards for agent loops (seed 003): a step limit, a wall-time limit that cancels a hung
// step or LLM call, loop detection without an LLM, a crash-safe JSON Lines event log, and a
// performance report. The limits, the loop rules, the log and the figures are the core's
// (`trinity_core::guard`); this file converts names and runs the JS side of a step: the
// caller's function, raced against the deadline with an AbortSignal.

import { AbortToken, NativeRunGuard, readEventLog as nativeReadEventLog } from '../native/index.js';
import type { ChatRequest, ChatResponse, CallOptions, Client } from './client';
import {
  CancelledError,
  ERROR_CLASSES,
  GuardStoppedError,
  InternalError,
  InvalidInputError,
  TrinityError,
  call,
  toTrinityError,
  type ErrorCode,
  type ErrorDetails,
} from './errors';
import { nativeClient } from './natives';

// ---------------------------------------------------------------------------------------------
// Settings

/** Loop detection, without an LLM. A threshold of 0 turns its rule off. */
export interface LoopOptions {
  /** All rules at once (default true). */
  enabled?: boolean;
  /** The same action (name and arguments) with the same result, this many times in a row (default 5). */
  sameAction?: number;
  /** Actions and results equal once cosmetic differences (whitespace, key order, case, ids, timestamps) are normalised away, this many times in a row (default 5). */
  nearDuplicate?: number;
  /** Two different steps taking turns, A-B-A-B-...: this many full cycles (default 3). */
  alternationCycles?: number;
  /** The same tool failing with the same error this many times in a row, whatever its arguments (default 3). */
  sameError?: number;
  /** Argument keys whose values never make two calls different (request ids, nonces, timestamps); replaces the defaults. */
  cosmeticKeys?: string[];
  /** Argument keys whose values always make two calls different (page, cursor, offset, ...); replaces the defaults. */
  meaningfulKeys?: string[];
}

/**
 * A run guard's settings, camelCase as the package's other options (`CircuitBreakerOptions`,
 * `BatchOptions`); the core's snake_case names (`max_steps`, `loops.same_action`, as in the
 * shared fixtures) are accepted too. An unknown key or a bad value is an `InvalidInputError`
 * naming it as given (`details.path`, e.g. `maxStep` or `loops.sameError`).
 */
export interface RunGuardOptions {
  /** Steps the run may take; the next one is refused (`GuardStoppedError`, reason `max_steps`). Default: no limit. */
  maxSteps?: number | null;
  /**
   * Wall time from the guard's creation, in seconds (fractions allowed); a step or LLM call
   * still running at the deadline is cancelled (reason `max_time`). Default: no limit.
   */
  maxTimeS?: number | null;
  loops?: LoopOptions;
  /** JSON Lines file the run's events are appended to (created if missing). */
  eventLog?: string | null;
  /** Write each step's arguments, scrubbed of keys and personal data, into the event log (default false). */
  logArguments?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Steps and LLM calls

/**
 * How a failed step is reported: an `Error` (its `code` for a `TrinityError`, else its `name`,
 * and its message) or the code and message themselves.
 */
export type StepErrorLike = Error | { code: string; message?: string };

/** How a step ended: its result (any JSON value) or its error. */
export type StepResult = { result: unknown; error?: undefined } | { error: StepErrorLike; result?: undefined };

/** A step reported after the fact: `result` or `error`, and the time it took if known. */
export interface RecordedStep {
  result?: unknown;
  error?: StepErrorLike | undefined;
  durationMs?: number;
}

/** An LLM call made outside the guard. */
export interface LlmCallRecord {
  /** What was asked for (a model or a route alias): `gen_ai.request.model`. */
  model: string;
  /** What answered: `gen_ai.response.model`. */
  responseModel?: string | null;
  /** `gen_ai.provider.name`. */
  provider?: string | null;
  inputTokens?: number | null;
  outputTokens?: number | null;
  /** What it cost, USD (kept as exact nano-USD); absent or null: not priced, counted apart, never as 0. */
  costUsd?: number | null;
  durationMs?: number;
  /** Set when the call failed. */
  error?: StepErrorLike | null;
}

// ---------------------------------------------------------------------------------------------
// Report and event log

/** Why a guard stops a run: `details.reason` of every `GuardStoppedError` it throws. */
export type StopReason = 'max_steps' | 'max_time' | 'loop_detected';

/** One metric's figures; the optional ones are null while `count` is 0. */
export interface MetricSummary {
  readonly count: number;
  readonly total: number;
  readonly average: number | null;
  readonly min: number | null;
  readonly max: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface GuardStopInfo {
  readonly reason: StopReason;
  readonly message: string;
  /** The `GuardStoppedError`'s details, as the error carries them (`rule`, `steps`, `limit`, ...). */
  readonly details: ErrorDetails;
}

/** What the event log has written; a failed write is counted here, never fails the run. */
export interface EventLogStatus {
  readonly path: string;
  readonly linesWritten: number;
  readonly writeErrors: number;
  readonly lastError: string | null;
}

/**
 * Seed 003's performance report of a run so far: count, average, min, max and p50, p95, p99
 * per metric (percentiles exact for the first 65,536 values, then within 0.1%).
 */
export interface PerformanceReport {
  readonly runId: string;
  /** Since the guard was created. */
  readonly elapsedMs: number;
  /** Steps finished (a step cancelled at the deadline included). */
  readonly steps: number;
  readonly failedSteps: number;
  readonly llmCalls: number;
  readonly failedLlmCalls: number;
  /** Answered calls that could not be priced: left out of `costUsd`, never counted as 0. */
  readonly unpricedLlmCalls: number;
  /** Why the guard stopped the run, if it did. */
  readonly stopped: GuardStopInfo | null;
  readonly stepDurationMs: MetricSummary;
  readonly llmCallDurationMs: MetricSummary;
  /** Per LLM call. */
  readonly inputTokens: MetricSummary;
  readonly outputTokens: MetricSummary;
  /** Input plus output, per LLM call. */
  readonly tokens: MetricSummary;
  /** Per priced LLM call, USD. */
  readonly costUsd: MetricSummary;
  readonly eventLog: EventLogStatus | null;
}

/**
 * One line of the event log, as the file holds it: OpenTelemetry GenAI attribute names where
 * one applies (`gen_ai.tool.name`, `gen_ai.usage.input_tokens`, `error.type`), `trinity.*` for
 * the engine's own (`trinity.cost_usd`, `trinity.action.fingerprint`), plain snake_case keys
 * for the record itself.
 */
export interface EventRecord {
  readonly type: 'run_start' | 'step' | 'llm_call' | 'run_stop';
  /** ISO 8601, UTC, ms. */
  readonly timestamp: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly run_id: string;
  readonly [key: string]: unknown;
}

export interface EventLogContents {
  readonly records: EventRecord[];
  /** 1-based numbers of the lines dropped: torn (no newline) or not a JSON object. */
  readonly droppedLines: number[];
  /** The file ended in a torn line (a crash mid-write). */
  readonly tornTail: boolean;
}

/**
 * Reads a run's event log, keeping every complete line that is a JSON object: a log cut short
 * by a crash reads up to its last whole line (`tornTail`). `IoError` when it cannot be read.
 */
export function readEventLog(path: string): EventLogContents {
  return call(() => nativeReadEventLog(path)) as EventLogContents;
}

// ---------------------------------------------------------------------------------------------
// Name conversion

/** camelCase to the core's snake_case (`maxTimeS` -> `max_time_s`); snake_case stays. */
const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The core's spelling of a JS object: keys in snake_case (undefined values left out), each
 * converted path remembered in `spelled` with the caller's own spelling, so an error the core
 * reports at `max_step` names `maxStep`. Unknown keys pass through for the core to refuse.
 */
class Spelling {
  readonly spelled = new Map<string, string>();

  constructor(readonly what: string) {}

  /** `obj` with snake_case keys; `nested` names the keys whose object values convert too. */
  keys(obj: object, nested: readonly string[] = [], path = '', given = ''): Record<string, unknown> {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      return obj as unknown as Record<string, unknown>; // the core says what it expected
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(obj)) {
      if (value === undefined) continue;
      const name = snake(key);
      const at = path + name;
      const as = given + key;
      if (Object.hasOwn(out, name)) {
        throw new InvalidInputError(`${this.what}: ${as}: given twice (as ${this.spelled.get(at) ?? at} and ${as})`, { path: as });
      }
      this.spelled.set(at, as);
      out[name] = nested.includes(name) && typeof value === 'object' && value !== null
        ? this.keys(value, [], `${at}.`, `${as}.`)
        : value;
    }
    return out;
  }

  /** Renames `at` (the core's spelling) to what the caller wrote. */
  alias(at: string, as: string): void {
    this.spelled.set(at, as);
  }

  /** Runs `f`, naming the path of an `InvalidInputError` as the caller spelled it. */
  run<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw this.error(toTrinityError(e));
    }
  }

  error(e: TrinityError): TrinityError {
    const path = e.details?.['path'];
    if (!(e instanceof InvalidInputError) || typeof path !== 'string' || path === '') return e;
    // The longest converted path the error's path starts with (`loops.cosmetic_keys[0]`).
    let best = '';
    for (const at of this.spelled.keys()) {
      const boundary = path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`);
      if (boundary && at.length > best.length) best = at;
    }
    const as = this.spelled.get(best);
    if (as === undefined || as === best) return e;
    const given = as + path.slice(best.length);
    const last = (p: string): string => p.slice(p.lastIndexOf('.') + 1);
    const message = e.message
      .replace(`${this.what}: ${path}:`, `${this.what}: ${given}:`)
      .replace(`\`${last(best)}\``, `\`${last(as)}\``);
    return new InvalidInputError(message, { ...e.details, path: given }, { cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Values crossing into the core

/**
 * A step's error in the core's shape: a `TrinityError`'s code, a Node system error's code
 * (`ENOENT`, so `same_error` tells failures apart), else the error's name.
 */
function stepError(e: unknown): { code: string; message: string } {
  if (e instanceof TrinityError) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { code: typeof code === 'string' && code !== '' ? code : e.name || 'Error', message: e.message };
  }
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string') {
    const { code, message } = e as { code: string; message?: unknown };
    return { code, message: message === undefined || message === null ? '' : String(message) };
  }
  return { code: 'error', message: String(e) };
}

/**
 * A step's result as JSON, which is what the loop rules compare (a `Date` as its text, a
 * `Map` as `{}`); `null` when it has no JSON form (a cycle, a BigInt), as the core does.
 */
function resultJson(v: unknown): unknown {
  if (v === undefined) return null;
  try {
    const text = JSON.stringify(v);
    return text === undefined ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** Arguments as JSON; unlike a result, arguments without a JSON form are refused. */
function argumentsJson(v: unknown): unknown {
  if (v === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    throw new InvalidInputError(`step: arguments: expected a JSON value (${(e as Error).message})`, { path: 'action.arguments' });
  }
  return text === undefined ? null : JSON.parse(text);
}

function outcomeJson(outcome: { result?: unknown; error?: unknown }): Record<string, unknown> {
  return outcome.error !== undefined && outcome.error !== null
    ? { error: stepError(outcome.error) }
    : { ok: resultJson(outcome.result) };
}

type ErrorValue = { code: string; message: string; details: Record<string, unknown> | null };

/** A stop handed back as a value (`stopped()`, `deadlineReached()`) as its class. */
function fromValue(v: ErrorValue): TrinityError {
  const cls = Object.hasOwn(ERROR_CLASSES, v.code) ? ERROR_CLASSES[v.code as ErrorCode] : InternalError;
  return new cls(v.message, v.details ?? undefined);
}

// ---------------------------------------------------------------------------------------------
// RunGuard

const DEADLINE = Symbol('deadline');

/**
 * Bounds one agent run: a step limit, a wall-time limit, loop detection, an event log and a
 * performance report. Every stop is a `GuardStoppedError` (code `guard_stopped`) with
 * `details.reason` = `max_steps`, `max_time` or `loop_detected` (plus `rule` and `steps` for a
 * loop); a stop is sticky, every later step or check throws the same.
 *
 * ```ts
 * const guard = new RunGuard({ maxSteps: 50, maxTimeS: 120, eventLog: 'run.jsonl' });
 * while (!done) {
 *   const page = await guard.runStep('fetch', { url }, (signal) => fetch(url, { signal }));
 *   const answer = await guard.chat(client, { model: 'gpt-4o-mini', messages });
 * }
 * console.log(guard.getPerformanceReport());
 * ```
 */
export class RunGuard {
  readonly #native: NativeRunGuard;
  #stopped: TrinityError | null = null;

  /** Validates the settings, opens the event log (if any) and starts the clock. */
  constructor(options?: RunGuardOptions | null) {
    const spelling = new Spelling('guard config');
    const config = options === undefined || options === null ? null : spelling.keys(options, ['loops']);
    this.#native = spelling.run(() => new NativeRunGuard(config));
  }

  /** `run_...`, random per guard; on every event-log line and in every `GuardStoppedError`. */
  get runId(): string {
    return this.#native.runId;
  }

  /** Steps begun so far. */
  get steps(): number {
    return this.#native.steps;
  }

  /** Milliseconds since the guard was created. */
  get elapsedMs(): number {
    return this.#native.elapsedMs;
  }

  /** Milliseconds left before `maxTimeS` runs out (0 once past it); null without a time limit. */
  get remainingMs(): number | null {
    return this.#native.remainingMs;
  }

  /** The `GuardStoppedError` the run was stopped with, or null while it may go on. */
  get stopped(): GuardStoppedError | null {
    if (this.#stopped === null) {
      const v = this.#native.stopped();
      if (v !== null) this.#stopped = fromValue(v as ErrorValue);
    }
    return this.#stopped as GuardStoppedError | null;
  }

  /** Throws `GuardStoppedError` once the run is stopped or out of time; else does nothing. */
  check(): void {
    call(() => this.#native.check());
  }

  /**
   * Begins step `name(args)` and returns its number (1 for the run's first), for
   * `finishStep`. Throws `GuardStoppedError` when the run is stopped, out of time, or would go
   * past `maxSteps`. `args` is compared as JSON (a string holding JSON as the value it holds).
   */
  beginStep(name: string, args?: unknown): number {
    const json = argumentsJson(args);
    return call(() => this.#native.begin(name, json));
  }

  /**
   * Ends step `step` with its result or its error: recorded, logged and checked for loops.
   * Throws `GuardStoppedError` when this step completes a loop or the time ran out meanwhile,
   * and `InvalidInputError` for a step not in progress (never begun, already finished, or
   * cancelled at the deadline). A failed step is not a guard error: it is only recorded.
   */
  finishStep(step: number, outcome: StepResult): void {
    const json = outcomeJson(outcome);
    call(() => this.#native.finish(step, json));
  }

  /**
   * A step that ran outside the guard, reported after the fact (`beginStep` and `finishStep`
   * at once, with `durationMs` if known); returns its number. Throws as they do.
   */
  recordStep(name: string, args: unknown, outcome: RecordedStep = {}): number {
    const step: Record<string, unknown> = { action: { name, arguments: argumentsJson(args) }, outcome: outcomeJson(outcome) };
    const spelling = new Spelling('step');
    if (outcome.durationMs !== undefined) {
      step['duration_ms'] = outcome.durationMs;
      spelling.alias('duration_ms', 'durationMs');
    }
    return spelling.run(() => this.#native.recordStep(step));
  }

  /**
   * Runs one step: begins it, calls `fn(signal)` and races it against the deadline. At the
   * deadline `signal` is aborted (its reason the stop), the step is recorded as cancelled, the
   * run stops and the promise rejects with `GuardStoppedError` (reason `max_time`) at once,
   * whether or not `fn` heeds the signal. A rejection of `fn` is recorded as the step's error
   * and rethrown; a result is recorded and returned. Throws `GuardStoppedError` instead when
   * this step completes a loop, the run is out of time, or the step is refused. The deadline
   * timer is unref'd: it does not keep the process alive by itself.
   */
  async runStep<T>(name: string, args: unknown, fn: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
    const step = this.beginStep(name, args);
    const controller = new AbortController();
    let work: Promise<T>;
    try {
      work = Promise.resolve(fn(controller.signal));
    } catch (e) {
      work = Promise.reject(e);
    }
    const settled = work.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const remaining = this.remainingMs;
    let timer: NodeJS.Timeout | undefined;
    let outcome: Awaited<typeof settled> | typeof DEADLINE;
    if (remaining === null) {
      outcome = await settled;
    } else {
      const deadline = new Promise<typeof DEADLINE>((resolve) => {
        timer = setTimeout(() => resolve(DEADLINE), Math.max(1, Math.ceil(remaining)));
        timer.unref();
      });
      try {
        outcome = await Promise.race([settled, deadline]);
      } finally {
        clearTimeout(timer);
      }
    }
    if (outcome === DEADLINE) {
      const stop = fromValue(call(() => this.#native.deadlineReached(step)) as ErrorValue);
      controller.abort(stop);
      throw stop;
    }
    if (outcome.ok) {
      this.finishStep(step, { result: outcome.value });
      return outcome.value;
    }
    this.finishStep(step, { error: outcome.error as StepErrorLike });
    throw outcome.error;
  }

  /**
   * One chat request through `client` as an LLM call of this run: refused once the run is
   * stopped, cancelled in the core at the deadline (`GuardStoppedError`, reason `max_time`),
   * recorded with its duration, tokens and cost. Aborting `opts.signal` rejects it with
   * `CancelledError` (recorded as a failed call). Not a step: the event log attributes it to
   * the step in progress.
   */
  async chat(client: Client, request: ChatRequest, opts?: CallOptions): Promise<ChatResponse> {
    const native = nativeClient(client);
    const signal = opts?.signal;
    if (signal?.aborted) throw new CancelledError('the call was aborted');
    const token = signal === undefined ? undefined : new AbortToken();
    const abort = (): void => token?.abort();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return (await this.#native.chat(native, request as unknown as Record<string, unknown>, token)) as ChatResponse;
    } catch (e) {
      throw toTrinityError(e);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /**
   * An LLM call made outside the guard, reported after the fact. Throws `GuardStoppedError`
   * only when the run is stopped or out of time (the call is recorded either way), and
   * `InvalidInputError` naming a bad or unknown field.
   */
  recordLlmCall(record: LlmCallRecord): void {
    const spelling = new Spelling('llm call');
    const { costUsd, error, ...rest } = record;
    const json = spelling.keys(rest);
    if (costUsd !== undefined) {
      json['cost_nano_usd'] = typeof costUsd === 'number' && Number.isFinite(costUsd) ? Math.round(costUsd * 1e9) : costUsd;
      spelling.alias('cost_nano_usd', 'costUsd');
    }
    if (error !== undefined && error !== null) json['error'] = stepError(error);
    spelling.run(() => this.#native.recordLlmCall(json));
  }

  /** The run's figures so far: count, average, min, max, p50, p95, p99 per metric. */
  getPerformanceReport(): PerformanceReport {
    return this.#native.performanceReport() as unknown as PerformanceReport;
  }
}
