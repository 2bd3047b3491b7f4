// Batch runs that survive a crash: JSON Lines of chat requests through a Client, each result
// journaled before it counts as done, resumable after a crash or a stop. The native side hands
// over every line already journaled in one promise; this yields them one at a time.

import { batchRun as nativeBatchRun, batchStatus as nativeBatchStatus } from '../native/index.js';
import type { NativeBatchRun } from '../native/index.js';
import type { Client } from './client';
import { CancelledError, call, toTrinityError } from './errors';
import { nativeClient } from './natives';

export interface BatchOptions {
  /** Continue the run whose journal is next to `output`: requests already done are not sent again. */
  resume?: boolean;
  /** With `resume`, send the requests that failed again. */
  retryFailed?: boolean;
  /** Requests in flight at once (default 32). */
  concurrency?: number;
  /** After an abort, seconds in-flight requests may take before they are cancelled (default: none). */
  graceS?: number;
  /**
   * Aborting stops the run as the CLI's first signal does: nothing new is admitted, in-flight
   * requests get `graceS`; the iteration then throws `CancelledError` once the files are valid.
   */
  signal?: AbortSignal | undefined;
}

/**
 * One output line, as the output file holds it: OpenAI's batch output shape (snake_case, as
 * that format names its fields) plus the engine's `trinity` object.
 */
export interface BatchResult {
  /** `batch_req_...`: the same for the same input and `custom_id`. */
  readonly id: string;
  readonly custom_id: string;
  /** The answer, when there is one: `body` is a chat completion. */
  readonly response: {
    readonly status_code: number;
    readonly request_id: string;
    readonly body: {
      readonly id: string;
      readonly object: 'chat.completion';
      readonly model: string;
      readonly choices: readonly {
        readonly index: number;
        readonly message: { readonly role: 'assistant'; readonly content: string; readonly tool_calls?: unknown[] };
        readonly finish_reason: string | null;
      }[];
      readonly usage: { readonly prompt_tokens: number; readonly completion_tokens: number; readonly total_tokens: number };
    };
  } | null;
  /** Why it failed for good: `code` is one of the error codes. */
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly trinity: {
    /** The request log's id. */
    readonly request_id: string | null;
    readonly provider: string | null;
    readonly cost_usd: number | null;
    readonly attempts: number | null;
    readonly cached: boolean;
  };
}

export interface BatchFailedRequest {
  readonly customId: string;
  readonly requestId: string;
  /** The error code. */
  readonly error: string;
}

/** How a run went (or, from `batchStatus`, the runs so far). */
export interface BatchSummary {
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly remaining: number;
  /** Done before this run began (resume). */
  readonly skipped: number;
  readonly costUsd: number;
  /** Every request is done and `output` holds them in input order. */
  readonly complete: boolean;
  /** Why admission stopped early: `cancelled`, `budget_exceeded: ...`. */
  readonly stopped?: string | undefined;
  readonly failedRequests: readonly BatchFailedRequest[];
  /** Bytes of a torn journal tail a resume dropped. */
  readonly journalBytesDropped: number;
  readonly output: string;
}

/** A run's counters at the moment they are read (`BatchRun.progress()`). */
export interface BatchProgress {
  readonly total: number;
  /** Done by an earlier run into the same output (a resume). */
  readonly skipped: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly inFlight: number;
  /** Not finished yet, in flight included. */
  readonly remaining: number;
  /** This run's cost so far. */
  readonly costUsd: number;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

function aborted(): CancelledError {
  return new CancelledError('the batch run was aborted');
}

/**
 * A batch run's result lines as they are journaled, in finishing order:
 * `for await (const line of run) ...`; `summary` once the iteration has ended. The run starts
 * with the first `next()`. Leaving the loop early stops it (as an abort does).
 */
export class BatchRun implements AsyncIterableIterator<BatchResult> {
  readonly #native: NativeBatchRun;
  readonly #signal: AbortSignal | undefined;
  #batch: BatchResult[] = [];
  #next = 0;
  #done = false;
  #stopping: Promise<void> | undefined;
  #summary: BatchSummary | undefined;

  /** @internal Made by `runBatch`. */
  constructor(native: NativeBatchRun, signal: AbortSignal | undefined) {
    this.#native = native;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#abort, { once: true });
  }

  /** The run's summary once the iteration has ended (after an abort too), else undefined. */
  get summary(): BatchSummary | undefined {
    return this.#summary;
  }

  /**
   * Done, failed, in flight, remaining and cost so far, read without waiting (for a progress
   * display: the rate and ETA are the caller's, from two readings).
   */
  progress(): BatchProgress {
    return this.#native.progress();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<BatchResult, undefined>> {
    if (this.#signal?.aborted && this.#stopping === undefined && !this.#done) {
      await this.#stop();
      throw aborted();
    }
    const waiting = this.#batch[this.#next];
    if (waiting !== undefined) {
      this.#next += 1;
      return { done: false, value: waiting };
    }
    if (this.#done) return DONE;
    let batch: BatchResult[];
    try {
      batch = (await this.#native.next()) as unknown as BatchResult[];
    } catch (e) {
      this.#end();
      throw toTrinityError(e);
    }
    if (this.#signal?.aborted) {
      await this.#stop();
      throw aborted();
    }
    const first = batch[0];
    if (first === undefined) {
      this.#summary = this.#native.summary() ?? undefined;
      this.#end();
      return DONE;
    }
    this.#batch = batch;
    this.#next = 1;
    return { done: false, value: first };
  }

  /** Called when a `for await` loop is left early: stops the run and waits until its files are valid. */
  async return(): Promise<IteratorResult<BatchResult, undefined>> {
    await this.#stop();
    return DONE;
  }

  /** Stops the run as an abort does and waits until its files are valid. Idempotent. */
  async stop(): Promise<void> {
    await this.#stop();
  }

  #stop(): Promise<void> {
    if (this.#done && this.#stopping === undefined) return Promise.resolve();
    this.#stopping ??= (async () => {
      this.#native.cancel();
      try {
        this.#summary = await this.#native.finished();
      } catch {
        // The run failed or never started: the stop is what the caller asked for.
      }
      this.#end();
    })();
    return this.#stopping;
  }

  #end(): void {
    this.#done = true;
    this.#batch = [];
    this.#signal?.removeEventListener('abort', this.#abort);
  }

  /** An abort stops admission at once; a pending `next()` ends when the run has wound down. */
  readonly #abort = (): void => this.#native.cancel();
}

/**
 * Runs (or with `resume`, continues) the batch in `input` (JSON Lines of chat requests, each
 * with a `custom_id`; OpenAI Batch API lines accepted) into `output`. Bad options throw here;
 * a bad input (`InvalidInputError` naming the line) rejects the first `next()`.
 */
export function runBatch(client: Client, input: string, output: string, options?: BatchOptions): BatchRun {
  if (options?.signal?.aborted) throw aborted();
  const json: Record<string, unknown> = { input, output };
  if (options?.resume !== undefined) json['resume'] = options.resume;
  if (options?.retryFailed !== undefined) json['retry_failed'] = options.retryFailed;
  if (options?.concurrency !== undefined) json['concurrency'] = options.concurrency;
  if (options?.graceS !== undefined) json['grace_s'] = options.graceS;
  const native = call(() => nativeBatchRun(nativeClient(client), json));
  return new BatchRun(native, options?.signal);
}

/** What the journal next to `output` says: done, failed, remaining, cost (`NotFoundError` when there is none). */
export function batchStatus(output: string): BatchSummary {
  return call(() => nativeBatchStatus(output)) as BatchSummary;
}
