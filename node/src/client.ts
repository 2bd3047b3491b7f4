// The LLM client. Requests use the core's one request schema, which is OpenAI's: snake_case
// field names (`max_tokens`, `top_p`, `tool_choice`, `response_format`, `timeout_ms`) exactly as
// the OpenAI SDK sends them, so a request written for that SDK works unchanged. Responses and
// chunks are built natively with camelCase fields.

import type { CostDetail } from './cost';
import { AbortToken, NativeClient } from '../native/index.js';
import { CancelledError, call, toTrinityError } from './errors';
import { CacheStrategy } from './cache';
import { CostTracker, RequestLogger, type DebugInfo } from './observe';
import { ChatStream } from './stream';
import { registerClient } from './natives';
import { PerformanceMetrics, ProviderMonitor } from './monitor';
import { deliver, toLogger, type Logger, type LogRecord } from './logs';
import type { TrinityConfig } from './config';
import type { ChatMessage, PromptCacheControl } from './tokens';

export interface ToolDefinition {
  type?: 'function';
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments. */
    parameters?: Record<string, unknown>;
  };
  /** Anthropic's prompt-cache breakpoint after the tool definitions (on the last tool). */
  cache_control?: PromptCacheControl;
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: Record<string, unknown> };

/**
 * A chat request. `model` is a configured route, a registry id or alias, or `provider/model`
 * naming a configured provider. Unknown fields are rejected (`InvalidInputError`,
 * `details.path`), as are empty `messages` and out-of-range values, before anything is sent.
 */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string | string[];
  seed?: number;
  response_format?: ResponseFormat;
  tools?: ToolDefinition[];
  tool_choice?: 'auto' | 'none' | 'required' | Record<string, unknown>;
  user?: string;
  metadata?: Record<string, unknown>;
  /** This call's overall timeout, instead of the provider's `timeout_ms`. */
  timeout_ms?: number;
  /** This call's cache control: `ttl_s`, `no_cache` (refresh), `no_store`, `namespace`. */
  cache?: { ttl_s?: number; no_cache?: boolean; no_store?: boolean; namespace?: string };
  /** This call's context settings, instead of the config's `context` section: a conversation
   * over the model's window is pruned before it is sent when `auto_prune` is on. */
  context?: {
    auto_prune?: boolean;
    strategy?: 'drop_oldest' | 'keep_first_last';
    reserve_output_tokens?: number;
    max_input_tokens?: number;
  };
}

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
  /** Prompt tokens the provider served from its own prompt cache. */
  readonly cachedTokens: number;
  /** Prompt tokens written to the provider's cache for 5 minutes / for 1 hour. */
  readonly cacheWriteTokens: number;
  readonly cacheWrite1hTokens: number;
  /** Output tokens spent on reasoning, part of `completionTokens`. */
  readonly reasoningTokens: number;
}

export interface ToolCall {
  readonly id: string;
  readonly type: string;
  /** `arguments` is JSON text, as the model produced it. */
  readonly function: { readonly name: string; readonly arguments: string };
}

export interface ChatResponse {
  /** The provider's id for the response. */
  readonly id: string;
  readonly content: string;
  readonly toolCalls: readonly ToolCall[];
  /** `stop`, `length`, `tool_calls`, `content_filter`, or the provider's own word. */
  readonly finishReason?: string;
  readonly usage: Usage;
  /** The configured provider name that answered. */
  readonly provider: string;
  /** The model that answered, as the provider names it. */
  readonly model: string;
  readonly latencyMs: number;
  /** From registry prices; absent when unpriced (`costDetail.unpricedReason` says why). */
  readonly costUsd?: number;
  readonly costDetail?: CostDetail;
  readonly cached: boolean;
  readonly attempts: number;
  /** Seed 004's `DebugInfo`: `requestId` (the request log's), timings, tokens, cost. */
  readonly debug?: DebugInfo;
}

/** A fraction of a budget limit reached (snake_case, as the config names limits). */
export interface BudgetAlert {
  readonly limit: 'daily_usd' | 'monthly_usd' | 'per_user_daily_usd' | 'per_request_usd';
  readonly fraction: number;
  readonly spent_usd: number;
  readonly limit_usd: number;
  /** `2026-12-03` or `2026-12`. */
  readonly window: string;
  readonly user?: string;
}

export interface CallOptions {
  /** Aborting rejects the call with `CancelledError` and closes its HTTP request. */
  signal?: AbortSignal | undefined;
}

/** What `new Client(...)` takes: a config object, YAML or JSON text, or nothing (the environment). */
export type ClientConfig = Partial<TrinityConfig> | Record<string, unknown> | string;

function abortedError(): CancelledError {
  return new CancelledError('the call was aborted');
}

export class Client {
  readonly #native: NativeClient;
  #costs: CostTracker | undefined;
  #requestLog: RequestLogger | undefined;
  #monitor: ProviderMonitor | undefined;
  #performance: PerformanceMetrics | undefined;

  /**
   * `config` follows the shared schema (snake_case, as in the YAML files), given as an object
   * or as YAML/JSON text; `TRINITY_*` environment overrides apply. Without it, the config comes
   * from `TRINITY_CONFIG` and the environment. A bad field is a `ConfigError` with `details.path`.
   */
  constructor(config?: ClientConfig) {
    this.#native = call(() => new NativeClient(config));
    registerClient(this, this.#native);
  }

  /** The client's own `CostTracker`: every answered call through it, priced. */
  get costs(): CostTracker {
    this.#costs ??= new CostTracker(this.#native.costs());
    return this.#costs;
  }

  /** The client's own `RequestLogger`: one record per call (answered, failed, cache hit, stream, cancelled). */
  get requestLog(): RequestLogger {
    this.#requestLog ??= new RequestLogger(this.#native.requestLog());
    return this.#requestLog;
  }

  /** The client's provider monitor: latency, error rate, availability, state, history, callbacks. */
  get monitor(): ProviderMonitor {
    this.#monitor ??= new ProviderMonitor(this.#native.monitor());
    return this.#monitor;
  }

  /** Seed 004's `PerformanceMetrics` over the monitor's window. */
  get performance(): PerformanceMetrics {
    this.#performance ??= new PerformanceMetrics(this.monitor, (f, h) => this.#native.performanceReport(f, h));
    return this.#performance;
  }

  /**
   * The client's metrics as OpenMetrics text: the OpenTelemetry GenAI metrics and the engine's
   * own under `metrics.prefix`. A `ConfigError` when `metrics.enabled` is false.
   */
  metricsText(): string {
    return call(() => this.#native.metricsText());
  }

  /** The client's response cache (`cache.enabled` with a tier configured), else null. */
  get cache(): CacheStrategy | null {
    const native = this.#native.cache();
    return native === null || native === undefined ? null : new CacheStrategy(native);
  }

  /**
   * `listener(alert)` each time spend passes one of `budget.alerts` of a limit, once per window.
   * A `ConfigError` when the config sets no budget.
   */
  onBudgetAlert(listener: (alert: BudgetAlert) => void): void {
    call(() => this.#native.onBudgetAlert((alert: unknown) => listener(alert as BudgetAlert)));
  }

  /**
   * `listener(record)` for each of this client's log records, at `logging.level` and above,
   * on the JS thread after the calls that made them. A listener that throws loses that record
   * only; calls never wait for listeners.
   */
  onLog(listener: (record: LogRecord) => void): void {
    this.#native.onLog((records: unknown[]) => deliver(listener, records));
  }

  /** The client's log records to `logger` (`console`, pino, winston...): `logger[level](message, fields)`. */
  setLogger(logger: Logger): void {
    this.onLog(toLogger(logger));
  }

  /** Spend and holds of the day, the month and `user`'s day, against their limits. */
  async budget(user?: string): Promise<Record<string, unknown>> {
    try {
      return await this.#native.budget(user);
    } catch (e) {
      throw toTrinityError(e);
    }
  }

  /** Sends a request and resolves with the whole answer. */
  async chat(request: ChatRequest, opts?: CallOptions): Promise<ChatResponse> {
    const signal = opts?.signal;
    if (signal === undefined) {
      try {
        return await this.#native.chat(request);
      } catch (e) {
        throw toTrinityError(e);
      }
    }
    if (signal.aborted) throw abortedError();
    const token = new AbortToken();
    const abort = (): void => token.abort();
    signal.addEventListener('abort', abort, { once: true });
    try {
      return await this.#native.chat(request, token);
    } catch (e) {
      throw toTrinityError(e);
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  /**
   * Starts a streamed answer: `for await (const chunk of client.chatStream(req)) ...`.
   * A bad request or an already aborted signal throws here; what the provider answers, failures
   * included, comes from the iteration. Leaving the loop early closes the HTTP request.
   */
  chatStream(request: ChatRequest, opts?: CallOptions): ChatStream {
    if (opts?.signal?.aborted) throw abortedError();
    return new ChatStream(call(() => this.#native.chatStream(request)), opts?.signal);
  }
}
