// Context tools (seed 004's ContextManager): the window a conversation may use, a
// conversation pruned to fit it that its provider still accepts, documents or turns ordered by
// relevance, and warnings before a request is sent. The core does the work.

import * as native from '../native/index.js';
import { call } from './errors';
import { countTokens } from './tokens';

/** A message in OpenAI, Anthropic or Gemini shape. */
export type AnyMessage = Readonly<Record<string, unknown>>;
export type Dialect = 'openai' | 'anthropic' | 'gemini' | 'strict';
export type PruneStrategy = 'drop_oldest' | 'keep_first_last' | 'summarize';

export interface PruneOptions {
  /** A budget below the window for the conversation itself. */
  maxInputTokens?: number;
  /** Room kept for the answer (default: the model's max output, at most half the window). */
  reserveOutputTokens?: number;
  strategy?: PruneStrategy;
  /** Whose rules the result follows (default `openai`). */
  dialect?: Dialect;
  /** With `strategy: 'summarize'`: the dropped messages in, one summary text out. */
  summarize?: (dropped: AnyMessage[]) => string;
}

export interface PrunedContext {
  messages: AnyMessage[];
  /** Input indexes of the messages dropped whole. */
  dropped: number[];
  tokensBefore: number;
  tokensAfter: number;
  budget: number;
  /** The latest user message was cut in the middle, with a marker. */
  truncated: boolean;
  summarized: boolean;
}

export interface ContextWindow {
  model: string;
  contextWindow: number;
  reservedOutput: number;
  available: number;
  /** Counted with the model's own tokenizer. */
  exact: boolean;
}

export interface Violation {
  index: number;
  rule: string;
}

/**
 * `messages` cut to `model`'s window less the answer's room: tool calls kept or dropped with all
 * their results, system messages verbatim, the latest user message kept (or cut with a marker).
 * Throws `ContextTooLargeError` when even the instructions and the latest user message cannot fit.
 */
export function pruneContext(messages: readonly AnyMessage[], model: string, options: PruneOptions = {}): PrunedContext {
  let thrown: { error: unknown } | undefined;
  const summarize = options.summarize
    ? (dropped: AnyMessage[]): string => {
        try {
          return options.summarize!(dropped);
        } catch (error) {
          thrown = { error };
          throw error;
        }
      }
    : undefined;
  const opts = {
    strategy: options.strategy,
    dialect: options.dialect,
    max_input_tokens: options.maxInputTokens,
    reserve_output_tokens: options.reserveOutputTokens,
  };
  let out: Record<string, unknown>;
  try {
    out = call(() => native.pruneContext(messages as AnyMessage[], model, opts, summarize));
  } catch (e) {
    if (thrown) throw thrown.error; // the callback's own error, as it threw it
    throw e;
  }
  return {
    messages: out.messages as AnyMessage[],
    dropped: out.dropped as number[],
    tokensBefore: out.tokens_before as number,
    tokensAfter: out.tokens_after as number,
    budget: out.budget as number,
    truncated: out.truncated as boolean,
    summarized: out.summarized as boolean,
  };
}

/** What a conversation may use of `model`'s window. */
export function getAvailableContextWindow(
  model: string,
  options: { reserveOutputTokens?: number; maxInputTokens?: number } = {},
): ContextWindow {
  const w = call(() => native.availableContextWindow(model, options.reserveOutputTokens, options.maxInputTokens));
  return {
    model: w.model as string,
    contextWindow: w.context_window as number,
    reservedOutput: w.reserved_output as number,
    available: w.available as number,
    exact: w.exact as boolean,
  };
}

/** `null` when `messages` follow `dialect`'s rules, else the first rule broken and where. */
export function validateConversation(messages: readonly AnyMessage[], dialect: Dialect = 'openai'): Violation | null {
  return call(() => native.validateConversation(messages as AnyMessage[], dialect)) as Violation | null;
}

export interface Prioritized<T = AnyMessage | string> {
  /** The items in their new order: the most relevant first and last, the least in the middle. */
  items: T[];
  /** For each output item, the input index it came from. */
  order: number[];
  /** By input index: the BM25 score, `null` for a message that stays in place. */
  scores: (number | null)[];
}

/**
 * Documents (strings, ranked against `options.query`) or messages (the earlier turns ranked
 * against the latest user message, or `options.query`), reordered so that the most relevant sit
 * first and last. Only whole turns move; tool calls stay with their results, system messages and
 * the latest question stay where they are, so a valid conversation stays valid.
 */
export function prioritizeContext<T extends AnyMessage | string>(
  items: readonly T[],
  options: { query?: string } = {},
): Prioritized<T> {
  return call(() => native.prioritizeContext(items as unknown[], options.query)) as unknown as Prioritized<T>;
}

export type ContextWarningCode =
  | 'over_window'
  | 'near_window'
  | 'output_reserve_missing'
  | 'large_image'
  | 'large_tool_schema'
  | 'under_cache_minimum'
  | 'volatile_before_cache_breakpoint';

export interface ContextWarning {
  /** Stable: assert on this, not on `message`. */
  code: ContextWarningCode;
  message: string;
  /** The figure measured (tokens of the prompt, an image, a tool, a cached prefix). */
  tokens: number;
  /** What it was held against, or `null`. */
  limit: number | null;
  /** Where in the request (`messages[3].content[1]`, `tools[0]`), or `null`. */
  path: string | null;
}

/**
 * Warnings for `request` (OpenAI, Anthropic or Gemini shape) sent to `model` (default: the
 * request's `model`): over or near the window, no room kept for the answer, large images and tool
 * schemas, a prompt under a provider's cache minimum, volatile content before a cache breakpoint.
 */
export function warnIfTooLarge(request: Readonly<Record<string, unknown>>, model?: string): ContextWarning[] {
  return call(() => native.warnIfTooLarge(request as Record<string, unknown>, model)) as unknown as ContextWarning[];
}

export interface ContextManagerOptions {
  dialect?: Dialect;
  strategy?: PruneStrategy;
  maxInputTokens?: number;
  reserveOutputTokens?: number;
  summarize?: (dropped: AnyMessage[]) => string;
}

/**
 * Seed 004's `ContextManager`: the options given once, the five methods with the seed's
 * signatures. Each calls one function above, which give the full results.
 */
export class ContextManager {
  constructor(private readonly options: ContextManagerOptions = {}) {}

  /** Tokens of `text` for `model` (exact for OpenAI encodings, else an estimate). */
  async estimateTokens(text: string, model: string): Promise<number> {
    return countTokens(text, { model });
  }

  /** Tokens a conversation may use: the window less the answer's room. */
  getAvailableContextWindow(model: string): number {
    return getAvailableContextWindow(model, this.options).available;
  }

  /** `messages` cut to fit `model`'s window (see `pruneContext`). */
  pruneContext(messages: readonly AnyMessage[], model: string): AnyMessage[] {
    return pruneContext(messages, model, this.options).messages;
  }

  /**
   * Earlier turns reordered by relevance to the latest user message (see `prioritizeContext`).
   * `model` is taken for the seed's signature; relevance does not depend on it.
   */
  prioritizeContext(messages: readonly AnyMessage[], _model?: string): AnyMessage[] {
    return prioritizeContext(messages).items;
  }

  /** Warnings with stable codes (see `warnIfTooLarge`). */
  warnIfTooLarge(request: Readonly<Record<string, unknown>>, model?: string): ContextWarning[] {
    return warnIfTooLarge(request, model);
  }
}
