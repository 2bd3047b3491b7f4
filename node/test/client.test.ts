import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { KINDS, ask, clientFor, rejection, server } from './llm';

const mock = server();
after(() => mock.stop());

for (const kind of KINDS) {
  describe(`wire format ${kind}`, () => {
    const client = clientFor(mock, kind);

    test('chat answers from the fixture, with usage and metadata', async () => {
      const r = await client.chat(ask('Say hello', { max_tokens: 50, temperature: 0.2 }));
      assert.equal(r.content, 'Hello from Node!');
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.provider, 'p');
      assert.equal(r.model, 'mock-model');
      assert.deepEqual(r.toolCalls, []);
      assert.ok(r.usage.promptTokens > 0 && r.usage.completionTokens > 0);
      assert.equal(r.usage.totalTokens, r.usage.promptTokens + r.usage.completionTokens);
      assert.equal(r.usage.cachedTokens, 0);
      assert.equal(r.attempts, 1);
      assert.equal(r.cached, false);
      assert.ok(r.latencyMs > 0);
      assert.ok(r.id.length > 0);
    });

    test('chatStream yields the fixture chunk by chunk', async () => {
      const chunks: core.ChatChunk[] = [];
      for await (const c of client.chatStream(ask('Count to three'))) chunks.push(c);
      assert.equal(chunks.map((c) => c.delta).join(''), 'one two three');
      assert.ok(chunks.filter((c) => c.delta).length >= 3);
      assert.ok(chunks.some((c) => c.finishReason === 'stop'));
      const usage = chunks.find((c) => c.usage)?.usage;
      assert.ok(usage && usage.completionTokens > 0, 'the final usage is reported');
    });

    test('tool calls, whole and streamed', async () => {
      const tools: core.ToolDefinition[] = [{
        type: 'function',
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      }];
      const r = await client.chat(ask('What is the weather in Paris?', { tools, tool_choice: 'auto' }));
      assert.equal(r.finishReason, 'tool_calls');
      assert.equal(r.toolCalls.length, 1);
      assert.equal(r.toolCalls[0]!.function.name, 'get_weather');
      assert.equal(r.toolCalls[0]!.type, 'function');
      assert.deepEqual(JSON.parse(r.toolCalls[0]!.function.arguments), { city: 'Paris' });

      const deltas: core.ToolCallDelta[] = [];
      for await (const c of client.chatStream(ask('What is the weather in Paris?', { tools }))) deltas.push(...c.toolCalls);
      assert.equal(deltas.find((d) => d.name)?.name, 'get_weather');
      assert.deepEqual(JSON.parse(deltas.map((d) => d.arguments).join('')), { city: 'Paris' });
    });
  });
}

describe('Client config', () => {
  test('YAML text, a JSON string and an object all configure the client', async () => {
    const yaml = `providers:\n  p:\n    kind: openai\n    base_url: ${mock.url}/v1\n    api_key: sk-test\n`;
    const json = JSON.stringify({ providers: { p: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k' } } });
    for (const config of [yaml, json]) {
      assert.equal((await new core.Client(config).chat(ask('Say hello'))).content, 'Hello from Node!');
    }
  });

  test('a bad config is a ConfigError naming the field', () => {
    try {
      new core.Client({ providers: { p: { kind: 'openai', timeout_ms: 'soon' } } });
      assert.fail('expected a throw');
    } catch (e) {
      assert.ok(e instanceof core.ConfigError, String(e));
      assert.equal(e.details?.path, 'providers.p.timeout_ms');
    }
  });

  test('no config reads TRINITY_CONFIG', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'trinity-')), 'c.yaml');
    writeFileSync(file, `providers: {p: {kind: openai, base_url: "${mock.url}/v1", api_key: k}}\n`);
    const saved = process.env.TRINITY_CONFIG;
    process.env.TRINITY_CONFIG = file;
    try {
      assert.equal((await new core.Client().chat(ask('Say hello'))).content, 'Hello from Node!');
    } finally {
      if (saved === undefined) delete process.env.TRINITY_CONFIG;
      else process.env.TRINITY_CONFIG = saved;
    }
  });
});

describe('bad requests fail before any network call', () => {
  const quiet = server();
  const client = clientFor(quiet);
  after(() => quiet.stop());

  const bad: Array<[string, unknown, string | undefined]> = [
    ['empty messages', { model: 'p/mock-model', messages: [] }, 'messages'],
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, undefined],
    ['a bad role', { model: 'p/mock-model', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['temperature out of range', ask('x', { temperature: 7 }), 'temperature'],
    ['messages not a list', { model: 'p/mock-model', messages: 'hello' }, 'messages'],
    ['an unknown field', { ...ask('x'), frobnicate: true }, undefined],
    ['camelCase instead of the schema', { ...ask('x'), maxTokens: 5 }, undefined],
    ['not an object', 'hello', undefined],
    ['a tool message without tool_call_id', { model: 'p/mock-model', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
  ];
  for (const [what, req, path] of bad) {
    test(what, async () => {
      const e = await rejection(client.chat(req as core.ChatRequest));
      assert.ok(e instanceof core.InvalidInputError, String(e));
      if (path) assert.equal(e.details?.path, path);
      assert.throws(() => client.chatStream(req as core.ChatRequest), core.InvalidInputError);
    });
  }

  test('an unknown model with several providers is not_found', async () => {
    const two = new core.Client({ providers: { a: { kind: 'openai', api_key: 'k' }, b: { kind: 'anthropic', api_key: 'k' } } });
    assert.ok((await rejection(two.chat(ask('x', { model: 'no-such-model' })))) instanceof core.NotFoundError);
  });

  test('the server saw none of them', () => {
    assert.equal(quiet.stats().requests, 0);
  });
});

test('256 concurrent chats all succeed', async () => {
  const client = clientFor(mock);
  const answers = await Promise.all(
    Array.from({ length: 256 }, (_, i) => client.chat(ask(i % 2 ? 'Say hello' : `echo ${i}`))),
  );
  assert.equal(answers.length, 256);
  answers.forEach((r, i) => assert.equal(r.content, i % 2 ? 'Hello from Node!' : `echo ${i}`));
});

describe('in-process mock provider', () => {
  let client: core.Client;
  before(() => {
    client = new core.Client({ providers: { m: { kind: 'mock', fixtures: { hi: { prompt: 'hi', response: 'hello' } } } } });
  });
  test('answers and streams without a server', async () => {
    assert.equal((await client.chat({ model: 'm/any', messages: [{ role: 'user', content: 'hi' }] })).content, 'hello');
    let text = '';
    for await (const c of client.chatStream({ model: 'm/any', messages: [{ role: 'user', content: 'hi' }] })) text += c.delta;
    assert.equal(text, 'hello');
  });
});

describe('cost', () => {
  const client = clientFor(mock, 'anthropic');

  test('a response and its stream carry the same exact cost; an unknown model is unpriced with a reason', async () => {
    const r = await client.chat(ask('Say hello', { model: 'p/claude-sonnet-4-5-20250929' }));
    const d = r.costDetail!;
    assert.ok(d.totalNanoUsd! > 0 && !d.estimated, JSON.stringify(d));
    assert.equal(r.costUsd, d.totalUsd);
    const chunks: core.ChatChunk[] = [];
    for await (const c of client.chatStream(ask('Say hello', { model: 'p/claude-sonnet-4-5' }))) chunks.push(c);
    const priced = chunks.filter((c) => c.costDetail);
    assert.equal(priced.length, 1);
    assert.deepEqual(priced[0]!.costDetail, d, 'stream = non-stream');
    const unknown = await client.chat(ask('Say hello', { model: 'p/claude-opus-4-1-20250805' }));
    assert.equal(unknown.costUsd, undefined);
    assert.equal(unknown.costDetail?.unpricedReason, 'unknown_model');
  });

  test('cost() prices usage as the client does, cache writes by lifetime', () => {
    const d = core.cost('claude-haiku-4-5', { promptTokens: 3000, cacheWrite1hTokens: 2000, completionTokens: 100 });
    // 1,000 fresh at $1, 2,000 written for 1 h at $2, 100 out at $5 per 1M tokens.
    assert.equal(d.totalNanoUsd, 1_000_000 + 4_000_000 + 500_000);
    assert.throws(() => core.cost('gpt-4o', { promptTokens: -1 }), (e: unknown) => e instanceof core.InvalidInputError);
  });
});

describe('budgets', () => {
  test('a daily budget refuses a call before the network and alerts once', async () => {
    const s = new core.MockServer({ seed: 4 });
    try {
      const client = new core.Client({
        providers: { p: { kind: 'openai', base_url: s.url + '/v1', api_key: 'sk-test' } },
        budget: { daily_usd: 0.01, alerts: [0.00001] },
      });
      const alerts: core.BudgetAlert[] = [];
      client.onBudgetAlert((a) => alerts.push(a));
      const r = await client.chat(ask('hi', { model: 'p/gpt-4o-mini', max_tokens: 10 }));
      const e = await rejection(client.chat(ask('hi', { model: 'p/gpt-4o-mini', max_tokens: 100_000 })));
      assert.ok(e instanceof core.BudgetExceededError, String(e));
      assert.equal((e as core.TrinityError).details?.limit, 'daily_usd');
      assert.equal(s.stats().requests, 1, 'the refused call never reached the server');
      const day = ((await client.budget()).windows as Array<Record<string, number>>)[0]!;
      assert.equal(day.spent_nano, r.costDetail!.totalNanoUsd);
      // The alert crosses the thread boundary: let the event loop deliver it.
      for (let i = 0; i < 400 && alerts.length === 0; i++) await new Promise((res) => setTimeout(res, 5));
      assert.deepEqual(alerts.map((a) => [a.limit, a.fraction]), [['daily_usd', 0.00001]]);
      assert.throws(() => new core.Client({ providers: { p: { kind: 'mock' } } }).onBudgetAlert(() => {}), core.ConfigError);
    } finally {
      await s.stop();
    }
  });
});

describe('the client keeps its own books', () => {
  test('one request-log record per call, DebugInfo on answers, request ids on errors, costs summed', async () => {
    const s = new core.MockServer({ seed: 4, faults: { script: ['ok', '400'] } });
    try {
      const client = new core.Client({
        providers: { p: { kind: 'openai', base_url: s.url + '/v1', api_key: 'sk-proj-Secret0123456789abcdef' } },
        cache: { enabled: true, memory: { max_entries: 10 } },
      });
      const req = ask('log me', { model: 'p/gpt-4o-mini' });
      const r = await client.chat(req);
      const debug = r.debug!;
      assert.equal(debug.cost, r.costUsd);
      assert.equal(debug.provider, 'p');
      const e = await rejection(client.chat(ask('a bad one', { model: 'p/gpt-4o-mini' })));
      assert.ok(e instanceof core.InvalidInputError, String(e));
      const hit = await client.chat(req);
      assert.ok(hit.cached);
      let text = '';
      for await (const c of client.chatStream(ask('stream', { model: 'p/gpt-4o-mini' }))) text += c.delta;
      assert.ok(text.length > 0);
      const log = client.requestLog;
      assert.equal(log.size, 4);
      const byId = new Map(log.getHistory(10).map((x) => [x.requestId, x]));
      assert.equal(byId.get(debug.requestId)?.status, 'success');
      const failed = byId.get((e as core.TrinityError).details?.request_id as string);
      assert.equal(failed?.errorCode, 'invalid_input');
      assert.equal(failed?.httpStatus, 400);
      assert.equal(byId.get(hit.debug!.requestId)?.cacheTier, 'memory');
      assert.deepEqual(log.getHistory(10).map((x) => x.stream), [false, false, false, true]);
      assert.ok(!log.exportLogs('json').includes('Secret0123'));
      assert.strictEqual(client.requestLog, log, 'one logger object per client');
      const now = Date.now();
      assert.equal(client.costs.getSummary(now - 120_000, now + 120_000).requests, 3);
      assert.ok(client.costs.getTotalCost(now - 120_000, now + 120_000) > r.costUsd!);
      const metrics = client.metricsText();
      assert.ok(metrics.endsWith('# EOF\n'));
      assert.ok(metrics.includes('trinity_cache_hits_total{tier="memory"} 1'), metrics);
      assert.throws(
        () => new core.Client({ providers: { p: { kind: 'mock' } }, metrics: { enabled: false } }).metricsText(),
        core.ConfigError,
      );
    } finally {
      await s.stop();
    }
  });
});
