// Provider failures reach JS as TrinityError subclasses with the core's codes and details;
// timeouts and AbortSignal end calls early and close their HTTP requests.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { ask, clientFor, rejection, server } from './llm';

/** A fresh server whose first LLM request draws `fault`. */
function faulty(fault: string) {
  const s = server({ faults: { script: [fault], retry_after_ms: 1500 } });
  return { s, client: clientFor(s) };
}

describe('faults', () => {
  const started: core.MockServer[] = [];
  after(() => Promise.all(started.map((s) => s.stop())));
  const setUp = (fault: string) => {
    const f = faulty(fault);
    started.push(f.s);
    return f.client;
  };

  test('retryable faults are retried by default, with the attempts reported', async () => {
    const s = server({ faults: { script: ['503', '429', 'ok'], retry_after_ms: 10 } });
    started.push(s);
    const r = await clientFor(s, 'openai', {}, { base_ms: 5 }).chat(ask('Say hello'));
    assert.equal(r.attempts, 3);
    assert.equal(s.stats().requests, 3);
  });

  test('429 is RateLimitedError with status and retry_after_ms', async () => {
    const e = await rejection(setUp('429').chat(ask('Say hello')));
    assert.ok(e instanceof core.RateLimitedError, String(e));
    assert.equal(e.code, 'rate_limited');
    assert.equal(e.details?.status, 429);
    assert.equal(e.details?.retry_after_ms, 1500);
    assert.equal(e.details?.provider, 'p');
  });

  for (const [fault, cls, status] of [
    ['500', core.ProviderError, 500],
    ['503', core.ProviderError, 503],
    ['malformed', core.ProviderError, undefined],
    ['reset', core.NetworkError, undefined],
  ] as const) {
    test(`${fault} is ${cls.name}`, async () => {
      const e = await rejection(setUp(fault).chat(ask('Say hello')));
      assert.ok(e instanceof cls, String(e));
      if (status !== undefined) assert.equal(e.details?.status, status);
    });
  }

  test('a faulted stream rejects from the iterator', async () => {
    const client = setUp('429');
    const stream = client.chatStream(ask('Count to three'));
    await assert.rejects(stream.next(), core.RateLimitedError);
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });

  test('a stream cut half-way throws NetworkError from the for-await loop', async () => {
    const client = setUp('cut');
    let text = '';
    const e = await rejection((async () => {
      for await (const c of client.chatStream(ask('Count to three'))) text += c.delta;
    })());
    assert.ok(e instanceof core.NetworkError, String(e));
    assert.notEqual(text, 'one two three');
  });

  test('a wrong API key is AuthError', async () => {
    const s = server({ api_key: 'sk-right' });
    started.push(s);
    const e = await rejection(clientFor(s).chat(ask('Say hello')));
    assert.ok(e instanceof core.AuthError, String(e));
    assert.equal(e.details?.status, 401);
  });
});

describe('timeouts and cancellation', () => {
  // Every answer waits 3 s before its first byte.
  const slow = server({ latency: { dist: 'fixed', ms: 3000 } });
  after(() => slow.stop());
  const client = clientFor(slow);

  async function fast<T>(what: string, p: Promise<T>, limitMs = 1500): Promise<T> {
    const t0 = performance.now();
    try {
      return await p;
    } finally {
      const ms = performance.now() - t0;
      assert.ok(ms < limitMs, `${what} took ${ms.toFixed(0)} ms`);
    }
  }

  test('the provider timeout_ms gives TimeoutError', async () => {
    const short = clientFor(slow, 'openai', { timeout_ms: 200 });
    const e = await fast('provider timeout', rejection(short.chat(ask('Say hello'))));
    assert.ok(e instanceof core.TimeoutError, String(e));
  });

  test('the request timeout_ms gives TimeoutError, streams too', async () => {
    const e = await fast('request timeout', rejection(client.chat(ask('Say hello', { timeout_ms: 200 }))));
    assert.ok(e instanceof core.TimeoutError, String(e));
    const s = client.chatStream(ask('Say hello', { timeout_ms: 200 }));
    await fast('stream timeout', assert.rejects(s.next(), core.TimeoutError));
  });

  test('an already aborted signal rejects without a request', async () => {
    slow.resetStats();
    const signal = AbortSignal.abort();
    assert.ok((await rejection(client.chat(ask('Say hello'), { signal }))) instanceof core.CancelledError);
    assert.throws(() => client.chatStream(ask('Say hello'), { signal }), core.CancelledError);
    assert.equal(slow.stats().requests, 0);
  });

  test('aborting during a chat rejects at once with CancelledError', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const e = await fast('abort', rejection(client.chat(ask('Say hello'), { signal: controller.signal })), 1000);
    assert.ok(e instanceof core.CancelledError, String(e));
    assert.equal(e.code, 'cancelled');
  });

  test('AbortSignal.timeout works the same way', async () => {
    const e = await fast('abort', rejection(client.chat(ask('Say hello'), { signal: AbortSignal.timeout(100) })), 1000);
    assert.ok(e instanceof core.CancelledError, String(e));
  });

  test('aborting during a stream rejects the pending next() at once', async () => {
    const controller = new AbortController();
    const stream = client.chatStream(ask('Say hello'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await fast('stream abort', assert.rejects(stream.next(), core.CancelledError), 1000);
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });

  test('a signal that fires after the call has no effect', async () => {
    const quick = server();
    try {
      const controller = new AbortController();
      const r = await clientFor(quick).chat(ask('Say hello'), { signal: controller.signal });
      controller.abort();
      assert.equal(r.content, 'Hello from Node!');
    } finally {
      await quick.stop();
    }
  });
});

describe('leaving a stream early', () => {
  // 200 ms between chunks: reading the whole answer would take about a second.
  const dripping = server({
    fixtures: { long: { prompt: 'Go on', response: 'a b c d e f', chunks: ['a ', 'b ', 'c ', 'd ', 'e ', 'f'] } },
    stream_chunk_delay_ms: 200,
  });
  after(() => dripping.stop());
  const client = clientFor(dripping);

  test('break in for-await closes the stream', async () => {
    const t0 = performance.now();
    const stream = client.chatStream(ask('Go on'));
    let first = '';
    for await (const c of stream) {
      first = c.delta;
      break;
    }
    assert.equal(first, 'a ');
    assert.ok(performance.now() - t0 < 800, 'did not wait for the rest');
    assert.deepEqual(await stream.next(), { done: true, value: undefined });
  });

  test('close() while a next() is pending rejects it with CancelledError', async () => {
    const stream = client.chatStream(ask('Go on'));
    await stream.next();
    const pending = stream.next();
    stream.close();
    await assert.rejects(pending, core.CancelledError);
  });

  test('the client still works after streams were left', async () => {
    const r = await client.chat(ask('Say hello'));
    assert.equal(r.content, 'Say hello'); // no fixture matches: the server echoes
  });
});

describe('cancelling closes the connection', () => {
  /**
   * A bare TCP server standing in for a provider: it answers with `reply` (nothing at all when
   * empty) and never ends; `closed` resolves when the client closes the connection.
   */
  async function hangingServer(reply: string) {
    const net = await import('node:net');
    let closed!: () => void;
    const whenClosed = new Promise<void>((resolve) => (closed = resolve));
    const srv = net.createServer((socket) => {
      socket.once('data', () => reply && socket.write(reply));
      socket.on('close', closed);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address() as { port: number };
    const client = new core.Client({ providers: { p: { kind: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key: 'k' } } });
    return { client, whenClosed, stop: () => srv.close() };
  }

  async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  test('an aborted chat closes its HTTP connection', async () => {
    const h = await hangingServer('');
    try {
      const controller = new AbortController();
      const call = h.client.chat(ask('Say hello'), { signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(call, core.CancelledError);
      await within(2000, h.whenClosed, 'connection close');
    } finally {
      h.stop();
    }
  });

  test('leaving a stream early closes its HTTP connection', async () => {
    const sse = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
    const event = 'data: {"id":"x","choices":[{"index":0,"delta":{"content":"first"}}]}\n\n';
    const h = await hangingServer(`${sse}${event.length.toString(16)}\r\n${event}\r\n`);
    try {
      for await (const c of h.client.chatStream(ask('Say hello'))) {
        assert.equal(c.delta, 'first');
        break;
      }
      await within(2000, h.whenClosed, 'connection close');
    } finally {
      h.stop();
    }
  });
});
