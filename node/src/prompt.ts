// Seed 004's PromptOptimizer: lossless passes (whitespace, pretty JSON, repeats, boilerplate)
// with numbers, URLs, code, quotes and {{templates}} kept byte for byte; a layout for the
// model's prompt cache; a lossy `compress` that ends at or under a token target. The core does
// the work; this file maps its snake_case results to camelCase objects.

import * as native from '../native/index.js';
import type { AnyMessage } from './context';
import { call } from './errors';

/** A prompt: one text, or a conversation of messages (OpenAI, Anthropic or Gemini shape). */
export type PromptInput = string | readonly AnyMessage[];
/** What a prompt comes back as: a text for a text, messages for messages. */
export type PromptOutput<P extends PromptInput> = P extends string ? string : AnyMessage[];
export type OptimizationGoal = 'cost' | 'latency' | 'quality';

/** How much each lossless pass changed. */
export interface PromptPasses {
  readonly whitespaceLines: number;
  readonly blankLines: number;
  readonly jsonValues: number;
  readonly tableRows: number;
  readonly htmlComments: number;
  readonly htmlLines: number;
  /** Repeated blocks replaced by a `[same as ...]` reference, and the lines they held. */
  readonly repeats: number;
  readonly repeatedLines: number;
}

export interface OptimizedPrompt<P extends PromptInput = PromptInput> {
  readonly prompt: PromptOutput<P>;
  readonly goal: OptimizationGoal;
  /** Counted with the model's counter (o200k_base when no model is given). */
  readonly tokensBefore: number;
  readonly tokensAfter: number;
  readonly encoding: string;
  /** The model's own tokenizer is not the one counted with. */
  readonly estimated: boolean;
  /** Names of the passes that changed something. */
  readonly applied: readonly string[];
  readonly passes: PromptPasses;
}

/** A `cache_control` breakpoint: a message's content block, or a text prompt's byte offset. */
export interface CacheBreakpoint {
  readonly message?: number;
  readonly block?: number;
  readonly offset?: number;
  /** Tokens of the prefix it closes (at least the model's minimum). */
  readonly prefixTokens: number;
}

export interface PromptLayout<P extends PromptInput = PromptInput> {
  readonly prompt: PromptOutput<P>;
  readonly model: string;
  readonly provider: string;
  readonly tokensBefore: number;
  readonly tokensAfter: number;
  readonly encoding: string;
  readonly estimated: boolean;
  readonly applied: readonly string[];
  readonly passes: PromptPasses;
  /** `breakpoints`: Anthropic's `cache_control`; `automatic`: prefix caching; `unknown`: no minimum known. */
  readonly caching: 'breakpoints' | 'automatic' | 'unknown';
  /** The registry's shortest cacheable prefix for the model. */
  readonly cacheMinTokens: number | null;
  readonly stablePrefixTokens: number;
  readonly reachesMinimum: boolean | null;
  readonly breakpoints: readonly CacheBreakpoint[];
  /** `cache_control` marks the input already had (they count toward Anthropic's 4). */
  readonly existingBreakpoints: number;
  /** Per-request lines (dates, request ids) moved after the stable content. */
  readonly moved: readonly string[];
}

export interface DroppedText {
  readonly text: string;
  readonly reason: 'duplicate' | 'low_information';
  readonly tokens: number;
}

export interface CompressedPrompt {
  readonly text: string;
  readonly tokensBefore: number;
  readonly tokensAfter: number;
  readonly targetTokens: number;
  readonly encoding: string;
  readonly estimated: boolean;
  /** Nothing was dropped: the prompt fit as it was, or after the lossless passes. */
  readonly lossless: boolean;
  /** What was dropped, in the prompt's order. */
  readonly dropped: readonly DroppedText[];
}

type Raw = Record<string, unknown>;

function passes(p: Raw): PromptPasses {
  return {
    whitespaceLines: p.whitespace_lines as number,
    blankLines: p.blank_lines as number,
    jsonValues: p.json_values as number,
    tableRows: p.table_rows as number,
    htmlComments: p.html_comments as number,
    htmlLines: p.html_lines as number,
    repeats: p.repeats as number,
    repeatedLines: p.repeated_lines as number,
  };
}

function breakpoint(b: Raw): CacheBreakpoint {
  return {
    ...(b.message !== undefined && { message: b.message as number }),
    ...(b.block !== undefined && { block: b.block as number }),
    ...(b.offset !== undefined && { offset: b.offset as number }),
    prefixTokens: b.prefix_tokens as number,
  };
}

/** The fields an optimised prompt and a layout share. */
function common<P extends PromptInput>(o: Raw) {
  return {
    prompt: o.prompt as PromptOutput<P>,
    tokensBefore: o.tokens_before as number,
    tokensAfter: o.tokens_after as number,
    encoding: o.encoding as string,
    estimated: o.estimated as boolean,
    applied: o.applied as string[],
    passes: passes(o.passes as Raw),
  };
}

function optimized<P extends PromptInput>(o: Raw): OptimizedPrompt<P> {
  return { ...common<P>(o), goal: o.goal as OptimizationGoal };
}

function layout<P extends PromptInput>(o: Raw): PromptLayout<P> {
  return {
    ...common<P>(o),
    model: o.model as string,
    provider: o.provider as string,
    caching: o.caching as PromptLayout['caching'],
    cacheMinTokens: o.cache_min_tokens as number | null,
    stablePrefixTokens: o.stable_prefix_tokens as number,
    reachesMinimum: o.reaches_minimum as boolean | null,
    breakpoints: (o.breakpoints as Raw[]).map(breakpoint),
    existingBreakpoints: o.existing_breakpoints as number,
    moved: o.moved as string[],
  };
}

function compressed(o: Raw): CompressedPrompt {
  return {
    text: o.text as string,
    tokensBefore: o.tokens_before as number,
    tokensAfter: o.tokens_after as number,
    targetTokens: o.target_tokens as number,
    encoding: o.encoding as string,
    estimated: o.estimated as boolean,
    lossless: o.lossless as boolean,
    dropped: (o.dropped as Raw[]).map((d) => ({
      text: d.text as string,
      reason: d.reason as DroppedText['reason'],
      tokens: d.tokens as number,
    })),
  };
}

/**
 * Fewer tokens for the same prompt. Every method counts tokens before and after with `model`'s
 * counter (exact for OpenAI encodings, marked `estimated` otherwise; o200k_base without a model)
 * against the process-wide registry, and is deterministic: the same input gives the same output,
 * and optimising an optimised prompt changes nothing. Errors are TrinityErrors: a prompt that is
 * neither a string nor an array of message objects is `InvalidInputError`, an unknown model
 * `NotFoundError`.
 */
export class PromptOptimizer {
  /** The lossless passes. */
  optimizeForCost<P extends PromptInput>(prompt: P, model?: string): OptimizedPrompt<P> {
    return this.#optimize(prompt, model, 'cost');
  }

  /** The lossless passes (fewer input tokens is less prefill). */
  optimizeForLatency<P extends PromptInput>(prompt: P, model?: string): OptimizedPrompt<P> {
    return this.#optimize(prompt, model, 'latency');
  }

  /** The lossless passes (nothing the model needs is removed). */
  optimizeForQuality<P extends PromptInput>(prompt: P, model?: string): OptimizedPrompt<P> {
    return this.#optimize(prompt, model, 'quality');
  }

  /**
   * The lossless passes, laid out for `model`'s prompt cache: per-request lines after the stable
   * content; for Anthropic, `cache_control` breakpoints (at most 4, each over the model's minimum).
   */
  optimizeForModel<P extends PromptInput>(prompt: P, model: string): PromptLayout<P> {
    return layout<P>(call(() => native.optimizePromptForModel(prompt, model)));
  }

  /**
   * A text fitted to `targetTokens`: the lossless passes, then the least informative sentences
   * dropped (numbers, URLs, quotes, code and the final sentence never). `ContextTooLargeError`
   * when the protected content alone is over the target (`details.min_tokens` says what it
   * needs); a conversation is `InvalidInputError` (fit one with `pruneContext`).
   */
  compress(prompt: string, targetTokens: number, model?: string): CompressedPrompt {
    return compressed(call(() => native.compressPrompt(prompt, targetTokens, model)));
  }

  #optimize<P extends PromptInput>(prompt: P, model: string | undefined, goal: OptimizationGoal): OptimizedPrompt<P> {
    return optimized<P>(call(() => native.optimizePrompt(prompt, model, goal)));
  }
}
