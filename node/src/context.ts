// Context tools (seed 004's ContextManager): the window a conversation may use, and a
// conversation pruned to fit it that its provider still accepts. The core does the work.

import * as native from '../native/index.js';
import { call } from './errors';

/** A message in OpenAI, Anthropic or Gemini shape. */
export type AnyMessage = Readonly<Record<string, unknown>>;
export type Dialect = 'openai' | 'anthropic' | 'gemini' | 'strict';
export type PruneStrategy = 'drop_oldest' | 'keep_first_last' | 'summarize';

export interface PruneOptions {
  /** A budget below the window for the conversation itself. */
  maxInputTokens?: number;
  /** Room kept for the answer (default: the model's max output). */
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
