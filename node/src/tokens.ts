// Token counting: synchronous native calls (an awaited bridge would cost more than the count).

import * as native from '../native/index.js';
import { call, toTrinityError } from './errors';

export type EncodingName = 'cl100k_base' | 'o200k_base';

export interface CountOptions {
  /** A registry model id or alias; its tokenizer picks the encoding. */
  model?: string | undefined;
  /** Wins over `model`. Neither means `o200k_base`. */
  encoding?: EncodingName | undefined;
}

/** The exact tiktoken count of `text` (special-token strings count as plain text). */
export function countTokens(text: string, opts?: CountOptions): number {
  // Inline try/catch rather than `call`: this is the hot path for short strings.
  try {
    return native.countTokens(text, opts?.model, opts?.encoding);
  } catch (e) {
    throw toTrinityError(e);
  }
}

/** Counts many texts in one call, on every core. */
export function countTokensBatch(texts: readonly string[], opts?: CountOptions): number[] {
  return call(() => native.countTokensBatch(texts as string[], opts?.model, opts?.encoding));
}

export type ContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url' | 'image' | 'input_image'; [key: string]: unknown };

export interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  name?: string | null;
  tool_calls?: unknown;
  /** On `tool` messages: the id of the call they answer. */
  tool_call_id?: string | null;
}

export interface MessageTokenCount {
  readonly tokens: number;
  readonly encoding: EncodingName;
  /** True for models whose own tokenizer is not OpenAI's (Anthropic, Gemini, Llama...) or with images. */
  readonly estimated: boolean;
  readonly model: string;
}

/** Prompt tokens of a chat, with the per-message overhead OpenAI documents. */
export function countMessageTokens(messages: readonly ChatMessage[], model: string): MessageTokenCount {
  return call(() => native.countMessageTokens(messages, model)) as MessageTokenCount;
}
