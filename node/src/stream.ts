// ChatStream: an async iterator over a native stream. The native side hands over every chunk
// already received in one promise; this yields them one at a time.

import type { CostDetail } from './cost';
import type { NativeChatStream } from '../native/index.js';
import { CancelledError, toTrinityError } from './errors';
import type { Usage } from './client';

export interface ToolCallDelta {
  readonly index: number;
  /** Set on the first piece of each call. */
  readonly id?: string;
  readonly name?: string;
  readonly arguments: string;
}

export interface ChatChunk {
  readonly delta: string;
  readonly toolCalls: readonly ToolCallDelta[];
  /** On the last chunk. */
  readonly finishReason?: string;
  /** On the last chunk, where the provider reports it (else counted here: `costDetail.estimated`). */
  readonly usage?: Usage;
  /** On the chunk that carries the usage: what the stream cost. */
  readonly costUsd?: number;
  readonly costDetail?: CostDetail;
  /** Replayed from the response cache. */
  readonly cached: boolean;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

export class ChatStream implements AsyncIterableIterator<ChatChunk> {
  readonly #native: NativeChatStream;
  readonly #signal: AbortSignal | undefined;
  #batch: ChatChunk[] = [];
  #next = 0;
  #done = false;

  /** @internal Made by `Client.chatStream`. */
  constructor(native: NativeChatStream, signal: AbortSignal | undefined) {
    this.#native = native;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#abort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<ChatChunk, undefined>> {
    if (this.#signal?.aborted && !this.#done) {
      this.close();
      throw new CancelledError('the call was aborted');
    }
    const waiting = this.#batch[this.#next];
    if (waiting !== undefined) {
      this.#next += 1;
      return { done: false, value: waiting };
    }
    if (this.#done) return DONE;
    let batch: ChatChunk[];
    try {
      batch = await this.#native.next();
    } catch (e) {
      this.close();
      throw toTrinityError(e);
    }
    const first = batch[0];
    if (first === undefined) {
      this.close();
      return DONE;
    }
    this.#batch = batch;
    this.#next = 1;
    return { done: false, value: first };
  }

  /** Called when a `for await` loop is left early (`break`, `return`, a throw): closes the stream. */
  async return(): Promise<IteratorResult<ChatChunk, undefined>> {
    this.close();
    return DONE;
  }

  /** Stops the stream and closes its HTTP request; chunks not yet read are dropped. Idempotent. */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#batch = [];
    this.#signal?.removeEventListener('abort', this.#abort);
    this.#native.close();
  }

  /** Closing the native stream makes a pending `next()` reject with `cancelled` at once. */
  readonly #abort = (): void => this.#native.close();
}
