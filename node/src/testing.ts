// MockServer: the core's mock provider server (OpenAI, Anthropic and Gemini wire formats,
// streaming, latency and fault injection) on a free loopback port, served from this process.

import { NativeMockServer, NativeRedisServer } from '../native/index.js';
import { call, toTrinityError } from './errors';

/**
 * The mock server's config, in the shared snake_case schema (as in its YAML files):
 * `{ fixtures: { greet: { prompt: 'hi', response: 'hello' } }, seed: 1,
 *    latency: { dist: 'fixed', ms: 20 }, faults: { script: ['429', 'ok'] }, api_key: 'sk-test' }`.
 */
export interface MockServerConfig {
  port?: number;
  fixtures?: Record<string, unknown>;
  fixtures_file?: string;
  /** `echo` (the default), `not_found`, or `{ text: '...' }`. */
  default_response?: 'echo' | 'not_found' | { text: string };
  seed?: number;
  latency?: Record<string, unknown>;
  chunk_latency?: Record<string, unknown>;
  stream_chunk_delay_ms?: number;
  faults?: {
    script?: string[];
    rates?: Record<string, number>;
    retry_after_ms?: number;
    timeout_hold_ms?: number;
  };
  /** Requests with another key get 401. */
  api_key?: string;
  max_body_bytes?: number;
  models?: string[];
  /** Keep the last this many LLM request bodies as received (`GET /_mock/requests`); 0 (default): none. */
  record_requests?: number;
}

export interface MockStats {
  /** All requests, every route. */
  readonly requests: number;
  /** LLM requests answered as a stream. */
  readonly streams: number;
  /** Requests per route, e.g. `"POST /v1/chat/completions"`. */
  readonly routes: Readonly<Record<string, number>>;
  /** LLM requests by the fault they drew (`ok` included). */
  readonly faults: Readonly<Record<string, number>>;
}

export class MockServer {
  readonly #native: NativeMockServer;

  /** Starts serving at once; a bad config is a `ConfigError`. */
  constructor(config?: MockServerConfig) {
    this.#native = call(() => new NativeMockServer(config));
  }

  /** `http://127.0.0.1:PORT`: OpenAI and Anthropic base URLs add `/v1`, Gemini's `/v1beta`. */
  get url(): string {
    return this.#native.url;
  }

  get port(): number {
    return this.#native.port;
  }

  stats(): MockStats {
    return call(() => this.#native.stats()) as MockStats;
  }

  resetStats(): void {
    call(() => this.#native.resetStats());
  }

  /** New faults from now on (`{ rates: { '503': 1 } }`; `{}`: none): a provider that goes down, or comes back, mid-test. */
  setFaults(faults: Record<string, unknown>): void {
    call(() => this.#native.setFaults(faults));
  }

  /** Replays the fault script from the start and restarts the seeded random sequence. */
  resetFaults(): void {
    call(() => this.#native.resetFaults());
  }

  /** Stops serving; resolves once in-flight answers have ended (at most 5 s). Idempotent. */
  async stop(): Promise<void> {
    try {
      await this.#native.stop();
    } catch (e) {
      throw toTrinityError(e);
    }
  }
}

/**
 * A real `redis-server` (it must be installed) on a free loopback port with no persistence, for
 * tests of the shared cache tier and shared rate limits. `restart()` keeps the port.
 */
export class RedisServer {
  readonly #native: NativeRedisServer;

  constructor() {
    this.#native = call(() => new NativeRedisServer());
  }

  /** `redis://127.0.0.1:PORT/0`. */
  get url(): string {
    return this.#native.url;
  }

  get port(): number {
    return this.#native.port;
  }

  /** Kills the server (its data is lost) and starts a fresh one on the same port. */
  restart(): void {
    call(() => this.#native.restart());
  }

  /** Sends one inline command such as `SCRIPT FLUSH`; returns the raw reply line. */
  command(line: string): string {
    return call(() => this.#native.command(line));
  }

  /** Stops the server; idempotent. */
  stop(): void {
    this.#native.stop();
  }
}
