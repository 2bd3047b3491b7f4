// ModelRegistry with exactly seed 004's method names, over a native registry handle.
// Models are plain frozen objects with camelCase fields (the native layer maps the names).

import { NativeRegistry } from '../native/index.js';
import { call } from './errors';

export type Capability = 'chat' | 'vision' | 'tools' | 'json_mode' | 'streaming' | 'reasoning';

export interface Model {
  readonly id: string;
  readonly provider: string;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly contextWindow: number;
  readonly maxOutputTokens: number;
  /** USD per 1M tokens. */
  readonly inputPer1m: number;
  readonly outputPer1m: number;
  readonly cachedInputPer1m: number | null;
  /** The shortest prompt prefix the provider caches, when it caches prompts. */
  readonly cacheMinTokens?: number;
  readonly capabilities: readonly Capability[];
  /** `o200k_base` / `cl100k_base` count exactly; other families are estimated. */
  readonly tokenizer: string;
  /** Typical time to first token, in ms. */
  readonly typicalLatencyMs: number;
  /** `YYYY-MM-DD` when the provider retires the model. */
  readonly deprecationDate: string | null;
}

/** What `addModel` takes: a Model whose descriptive fields may be left out. */
export interface ModelDefinition {
  id: string;
  provider: string;
  name?: string;
  aliases?: string[];
  contextWindow: number;
  maxOutputTokens: number;
  inputPer1m: number;
  outputPer1m: number;
  cachedInputPer1m?: number | null;
  cacheMinTokens?: number;
  capabilities: Capability[];
  tokenizer: string;
  typicalLatencyMs?: number;
  deprecationDate?: string | null;
}

export interface LoadReport {
  readonly added: number;
  readonly updated: number;
  readonly skipped: number;
}

/** A native handle and the models already converted from it. */
interface Handle {
  readonly native: NativeRegistry;
  readonly memo: Map<string, Model>;
}

/** Names are case-insensitive, so callers could make the memo grow without end; cap it. */
const MEMO_LIMIT = 4096;

let shared: Handle | undefined;
/** Set by the static factories just before they call the constructor, which takes it. */
let adopting: Handle | undefined;

function handle(native: NativeRegistry): Handle {
  return { native, memo: new Map() };
}

function freeze(raw: unknown): Model {
  const m = raw as Model;
  Object.freeze(m.aliases);
  Object.freeze(m.capabilities);
  return Object.freeze(m);
}

function freezeAll(raw: unknown[]): Model[] {
  return raw.map(freeze);
}

export class ModelRegistry {
  readonly #h: Handle;

  /**
   * The process-wide registry: the one `countTokens({ model })` consults, shared by every
   * instance made this way. `ModelRegistry.builtin()` / `.empty()` make private ones.
   */
  constructor() {
    this.#h = adopting ?? (shared ??= handle(NativeRegistry.global()));
    adopting = undefined;
  }

  /** A private registry holding the shipped models. */
  static builtin(): ModelRegistry {
    adopting = handle(NativeRegistry.builtin());
    return new ModelRegistry();
  }

  /** A private registry with no models. */
  static empty(): ModelRegistry {
    adopting = handle(NativeRegistry.empty());
    return new ModelRegistry();
  }

  /** Number of models. */
  get size(): number {
    return this.#h.native.size;
  }

  /**
   * A model by id or alias (case-insensitive); `NotFoundError` with `details.suggestions`.
   * Converted models are memoized: building one natively costs microseconds, a hit nanoseconds.
   */
  getModel(id: string): Model {
    const memo = this.#h.memo;
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const model = freeze(call(() => this.#h.native.get(id)));
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(id, model);
    return model;
  }

  getAll(): Model[] {
    return freezeAll(this.#h.native.all());
  }

  getByProvider(provider: string): Model[] {
    return freezeAll(call(() => this.#h.native.byProvider(provider)));
  }

  getByCapability(capability: string): Model[] {
    return freezeAll(call(() => this.#h.native.byCapability(capability)));
  }

  /** Models whose typical latency is at most `maxMs`, fastest first. */
  getByLatency(maxMs: number): Model[] {
    return freezeAll(call(() => this.#h.native.byLatency(maxMs)));
  }

  /** Models whose blended price per 1K tokens is at most `maxPer1kTokens` USD, cheapest first. */
  getByCost(maxPer1kTokens: number): Model[] {
    return freezeAll(call(() => this.#h.native.byCost(maxPer1kTokens)));
  }

  /** The context window, in tokens. */
  getTokenLimit(modelId: string): number {
    return call(() => this.#h.native.tokenLimit(modelId));
  }

  /** USD per 1K tokens, blended: the mean of the input and output prices. */
  getCostPer1kTokens(modelId: string): number {
    return call(() => this.#h.native.costPer1k(modelId)).blended;
  }

  supportsFeature(modelId: string, feature: string): boolean {
    return call(() => this.#h.native.supportsFeature(modelId, feature));
  }

  addModel(model: ModelDefinition): void {
    this.#mutate(() => this.#h.native.add(model));
  }

  /** Changes some fields of a model; the id cannot change. */
  updateModel(id: string, updates: Partial<ModelDefinition>): void {
    this.#mutate(() => this.#h.native.update(id, updates));
  }

  /** Merges a model file in our format (`{ models: [...] }`, JSON or YAML); all-or-nothing. */
  loadFile(path: string): LoadReport {
    return this.#mutate(() => this.#h.native.loadFile(path));
  }

  /** Merges LiteLLM's `model_prices_and_context_window.json`, unchanged. */
  loadLiteLLM(path: string): LoadReport {
    return this.#mutate(() => this.#h.native.loadLitellmFile(path));
  }

  #mutate<T>(f: () => T): T {
    try {
      return call(f);
    } finally {
      // Even a failed call may have changed nothing or something: never trust old entries.
      this.#h.memo.clear();
    }
  }
}
