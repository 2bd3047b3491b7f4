// CacheStrategy (seed 004) over the core's cache: values, strategies and TTL, invalidation,
// a Redis tier shared by two caches, and the client serving a repeat and a stream replay.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { throwsCode } from './helpers';

const REQUEST: core.ChatRequest = { model: 'p/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('CacheStrategy', () => {
  test('cache, get, delete: strings and JSON values; misses are null', async () => {
    const c = new core.CacheStrategy({ backend: 'memory', ttl: 60, max_size: 100 });
    assert.equal(await c.get('missing'), null);
    await c.cache('s', 'text', 10);
    await c.cache('j', { a: [1, 2.5, null] }, 10);
    assert.equal(await c.get('s'), 'text');
    assert.deepEqual(await c.get('j'), { a: [1, 2.5, null] });
    await c.delete('s');
    assert.equal(c.getSync('s'), null);
    const stats = c.getStats();
    assert.equal(stats.hits, 2);
    assert.equal(stats.tiers[0]?.tier, 'memory');
  });

  test('byContent, byModel, byUser, globally change the key shape', () => {
    const c = new core.CacheStrategy();
    const req = { ...REQUEST, user: 'ann' };
    c.byContent(60);
    assert.match(c.keyFor(req), /^trinity:content:[0-9a-f]{64}$/);
    c.byModel(60);
    assert.match(c.keyFor(req), /^trinity:model:p\/gpt-4o-mini:[0-9a-f]{64}$/);
    c.byUser(60);
    assert.match(c.keyFor(req), /^trinity:user:ann:[0-9a-f]{64}$/);
    c.globally(60);
    const g = c.keyFor(req);
    assert.equal(c.keyFor({ ...req, model: 'other' }), g, 'the model does not matter globally');
    throwsCode(() => c.keyFor({ model: 'm', messages: [] }), 'invalid_input');
  });

  test('storeChat, lookupChat and invalidate by pattern', async () => {
    const c = new core.CacheStrategy();
    const key = c.storeChat(REQUEST, 'answer');
    assert.equal(c.lookupChat(REQUEST), 'answer');
    await c.invalidate('trinity:content:*');
    assert.equal(await c.get(key), null);
    c.storeChat(REQUEST, 'again');
    assert.equal(c.invalidateNamespace('trinity'), 1);
  });

  test('a Redis tier is shared by two caches', async () => {
    const redis = new core.RedisServer();
    try {
      const a = new core.CacheStrategy({ redis: { url: redis.url }, memory: null });
      const b = new core.CacheStrategy({ backend: 'redis', redis: { host: '127.0.0.1', port: redis.port } });
      await a.cache('shared', 'v', 30);
      assert.equal(await b.get('shared'), 'v');
      await b.invalidate('shared');
      assert.equal(await a.get('shared'), null);
    } finally {
      redis.stop();
    }
  });
});

describe('Client with a cache', () => {
  test('a repeat is served from the cache and a stream replays identically', async () => {
    const server = new core.MockServer({
      fixtures: { greet: { prompt: 'hi', response: 'Hello from the cache.' }, count: { prompt: 'count', response: 'one two three', chunks: ['one ', 'two ', 'three'] } },
      seed: 1,
    });
    try {
      const client = new core.Client({ providers: { p: { kind: 'openai', base_url: `${server.url}/v1`, api_key: 'k' } }, cache: { enabled: true } });
      const first = await client.chat(REQUEST);
      const calls = server.stats().requests;
      const second = await client.chat(REQUEST);
      assert.equal(server.stats().requests, calls, 'no provider call');
      assert.ok(second.cached && !first.cached);
      assert.equal(second.content, first.content);
      assert.equal(client.cache?.getStats().hits, 1);

      const req = { ...REQUEST, messages: [{ role: 'user' as const, content: 'count' }] };
      const collect = async () => {
        const out: [string, boolean][] = [];
        for await (const ch of client.chatStream(req)) out.push([ch.delta, ch.cached]);
        return out;
      };
      const a = await collect();
      const before = server.stats().requests;
      const b = await collect();
      assert.equal(server.stats().requests, before, 'replayed');
      assert.deepEqual(b.map((x) => x[0]), a.map((x) => x[0]));
      assert.ok(b.every((x) => x[1]) && !a.some((x) => x[1]));
    } finally {
      server.stop();
    }
  });
});
