// The response cache (memory → Redis → filesystem, all in the core) with seed 004's
// `CacheStrategy` methods. Native calls are synchronous (a memory hit is cheaper than a promise
// round trip); the seed's promise-returning methods wrap them, and `*Sync` twins skip the promise.

import { NativeCache } from '../native/index.js';
import { call } from './errors';
import type { ChatRequest } from './client';

/** One tier's counters. */
export interface TierStats {
  readonly tier: 'memory' | 'redis' | 'filesystem';
  readonly hits: number;
  readonly misses: number;
  readonly writes: number;
  readonly bytes: number;
  readonly evictions: number;
  readonly errors: number;
  readonly corrupt: number;
  readonly mean_lookup_us: number;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly hit_rate: number;
  /** Registry cost of the answers served from the cache. */
  readonly saved_usd: number;
  /** Entries in the memory tier. */
  readonly entries: number;
  readonly tiers: readonly TierStats[];
}

/**
 * The `cache` section of the shared config (`ttl_s`, `namespace`, `strategy`, `memory`,
 * `redis: {url, ...}`, `filesystem: {path}`), or seed 000's shape (`backend`, `ttl`, `max_size`,
 * `redis: {host, port, db}`, `filesystem: {path}`).
 */
export type CacheConfig = Record<string, unknown>;

export type Strategy = 'content' | 'model' | 'user' | 'global';

export class CacheStrategy {
  readonly #native: NativeCache;

  /** A new cache from `config`; `Client.cache` passes the client's own native cache instead. */
  constructor(config?: CacheConfig | NativeCache) {
    this.#native = config instanceof NativeCache ? config : call(() => new NativeCache(config));
  }

  /** Stores `value` (a string or any JSON value) for `ttl` seconds (the configured TTL if omitted). */
  async cache(key: string, value: unknown, ttl?: number): Promise<void> {
    this.cacheSync(key, value, ttl);
  }

  cacheSync(key: string, value: unknown, ttl?: number): void {
    call(() => this.#native.set(key, value, ttl));
  }

  /** The value, or null when missing, expired or damaged. */
  async get(key: string): Promise<unknown> {
    return this.getSync(key);
  }

  getSync(key: string): unknown {
    return call(() => this.#native.get(key)) ?? null;
  }

  async delete(key: string): Promise<void> {
    call(() => this.#native.delete(key));
  }

  /** Removes the keys matching a glob (`*`, `?`, `[abc]`) from every tier. */
  async invalidate(pattern: string): Promise<void> {
    call(() => this.#native.invalidate(pattern));
  }

  /** Removes a namespace (`{namespace}:*`); returns how many entries went. */
  invalidateNamespace(namespace: string): number {
    return call(() => this.#native.invalidateNamespace(namespace));
  }

  getStats(): CacheStats {
    return this.#native.stats() as CacheStats;
  }

  /** The key of a chat request, the same in every language. */
  keyFor(request: ChatRequest, provider?: string): string {
    return call(() => this.#native.key(request, provider));
  }

  /** `get(keyFor(request))` in one native call. */
  lookupChat(request: ChatRequest, provider?: string): unknown {
    return call(() => this.#native.lookupChat(request, provider)) ?? null;
  }

  /** `cache(keyFor(request), value, ttl)` in one native call; returns the key. */
  storeChat(request: ChatRequest, value: unknown, ttl?: number, provider?: string): string {
    return call(() => this.#native.storeChat(request, value, ttl, provider));
  }

  /** Same provider, model and content share an entry (the default). */
  byContent(ttl: number): void {
    this.#use('content', ttl);
  }

  /** As byContent, with the model in the key: `invalidate('ns:model:gpt-4o:*')` drops one model. */
  byModel(ttl: number): void {
    this.#use('model', ttl);
  }

  /** As byContent, per `request.user`: one user's answers are never served to another. */
  byUser(ttl: number): void {
    this.#use('user', ttl);
  }

  /** The same messages and parameters share one answer whatever the provider and model. */
  globally(ttl: number): void {
    this.#use('global', ttl);
  }

  /** Counts of valid, corrupt, expired and orphaned entries (filesystem tier), memory entries. */
  validate(): Record<string, unknown> {
    return call(() => this.#native.validate()) as Record<string, unknown>;
  }

  /** `purge('all' | 'expired')`, `purge({ namespace })` or `purge({ pattern })`. */
  purge(what: 'all' | 'expired' | { namespace: string } | { pattern: string }): Record<string, unknown> {
    const result =
      typeof what === 'string'
        ? call(() => this.#native.purge(what))
        : 'namespace' in what
          ? call(() => this.#native.purge(undefined, what.namespace))
          : call(() => this.#native.purge(undefined, undefined, what.pattern));
    return result as Record<string, unknown>;
  }

  #use(strategy: Strategy, ttl: number): void {
    call(() => this.#native.setStrategy(strategy, ttl));
  }
}
