import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { MockServer as FromTesting } from '@pi-builder/core/testing';
import { ask, clientFor, server } from './llm';

test('MockServer is exported from the root and from /testing', () => {
  assert.equal(core.MockServer, FromTesting);
});

test('url, port, stats, resetStats, resetFaults, stop', async () => {
  const s = server({ faults: { script: ['500', 'ok'] } });
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(s.url, `http://127.0.0.1:${s.port}`);
  const client = clientFor(s);

  await assert.rejects(client.chat(ask('Say hello')), core.ProviderError);
  assert.equal((await client.chat(ask('Say hello'))).content, 'Hello from Node!');
  let stats = s.stats();
  assert.equal(stats.requests, 2);
  assert.equal(stats.routes['POST /v1/chat/completions'], 2);
  assert.equal(stats.faults['500'], 1);
  assert.equal(stats.faults.ok, 1);

  s.resetStats();
  stats = s.stats();
  assert.equal(stats.requests, 0);
  s.resetFaults(); // the script starts again: 500 first
  await assert.rejects(client.chat(ask('Say hello')), core.ProviderError);

  await s.stop();
  await s.stop(); // idempotent
  assert.throws(() => s.stats(), core.InvalidInputError);
  await assert.rejects(client.chat(ask('Say hello')), core.NetworkError);
});

test('a bad mock config is a ConfigError', () => {
  assert.throws(() => new core.MockServer({ prot: 1 } as never), core.ConfigError);
  assert.throws(() => new core.MockServer({ faults: { rates: { '429': 2 } } }), core.ConfigError);
});

test('the official wire format: plain fetch gets an OpenAI answer', async () => {
  const s = new core.MockServer();
  try {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify(ask('ping')),
    });
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    assert.equal(body.choices[0]!.message.content, 'ping'); // echo by default
  } finally {
    await s.stop();
  }
});

test('RedisServer: a real redis-server that restarts empty on the same port', () => {
  const redis = new core.RedisServer();
  try {
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}/0`);
    assert.equal(redis.command('SET k v'), '+OK');
    redis.restart();
    assert.equal(redis.command('GET k'), '$-1');
  } finally {
    redis.stop();
  }
  assert.throws(() => redis.command('PING'), core.TrinityError);
});
