// Engine logs in Node: onLog gets each call's records with the request log's id and GenAI
// fields, at the client's level, scrubbed; setLogger takes console-like loggers; a listener that
// throws loses only its record and never fails a call. Against the real mock server.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';

const KEY = 'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l';

function client(s: core.MockServer, logging: Record<string, unknown> = {}): core.Client {
  return new core.Client({
    providers: { p: { kind: 'openai', base_url: s.url + '/v1', api_key: KEY } },
    retry: { max_attempts: 2, base_ms: 1 },
    logging,
  });
}

function ask(text: string, model = 'p/gpt-4o-mini'): core.ChatRequest {
  return { model, messages: [{ role: 'user', content: text }] };
}

describe('engine logs', () => {
  test('each call leaves its records, with the request id and GenAI fields; retries only when they happened', async () => {
    const s = new core.MockServer({ seed: 4, faults: { script: ['ok', '503', 'ok'] } });
    try {
      const c = client(s, { format: 'json' });
      const records: core.LogRecord[] = [];
      c.onLog((r) => records.push(r));
      const first = await c.chat(ask('first'));
      const second = await c.chat(ask('second'));
      assert.ok(await core.flushLogs());
      const answered = records.filter((r) => r.message.startsWith('call answered'));
      assert.deepEqual(answered.map((r) => r.request_id), [first.debug!.requestId, second.debug!.requestId]);
      const r = answered[0]!;
      assert.equal(r.level, 'info');
      assert.equal(r['gen_ai.request.model'], 'p/gpt-4o-mini');
      assert.equal(r['gen_ai.usage.input_tokens'], first.usage.promptTokens);
      assert.deepEqual(JSON.parse(r.line).request_id, first.debug!.requestId);
      const retries = records.filter((x) => x.message.startsWith('retrying'));
      assert.deepEqual(retries.map((x) => x.request_id), [second.debug!.requestId]);
    } finally {
      await s.stop();
    }
  });

  test('level and redaction follow the config; setLogger takes a console-like logger', async () => {
    const s = new core.MockServer({ seed: 4 });
    try {
      const quiet = client(s, { level: 'warn' });
      const none: core.LogRecord[] = [];
      quiet.onLog((r) => none.push(r));
      await quiet.chat(ask('fine'));
      const c = client(s);
      const lines: Array<[string, string, Record<string, unknown>]> = [];
      const logger = {
        error: (m: string, f?: Record<string, unknown>) => lines.push(['error', m, f ?? {}]),
        warn: (m: string, f?: Record<string, unknown>) => lines.push(['warn', m, f ?? {}]),
        info: (m: string, f?: Record<string, unknown>) => lines.push(['info', m, f ?? {}]),
        debug: (m: string, f?: Record<string, unknown>) => lines.push(['debug', m, f ?? {}]),
      };
      c.setLogger(logger);
      await c.chat(ask('keyed', `p/${KEY}`));
      assert.ok(await core.flushLogs());
      assert.deepEqual(none, []);
      const [level, message, fields] = lines.find(([, m]) => m.startsWith('call answered'))!;
      assert.equal(level, 'info');
      assert.ok(!JSON.stringify([message, fields]).includes(KEY));
      assert.match(String(fields['gen_ai.request.model']), /REDACTED/);
    } finally {
      await s.stop();
    }
  });

  test('a listener that throws never fails a call and loses only its own record', async () => {
    const s = new core.MockServer({ seed: 4 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const c = client(s);
      c.onLog(() => {
        throw new Error('a broken listener');
      });
      const kept: core.LogRecord[] = [];
      c.onLog((r) => kept.push(r));
      for (let i = 0; i < 20; i++) assert.ok((await c.chat(ask(`q${i}`))).content);
      assert.ok(await core.flushLogs());
      assert.equal(kept.filter((r) => r.message.startsWith('call answered')).length, 20);
      await new Promise((r) => setImmediate(r));
      assert.ok(warnings.some((w) => w.includes('a broken listener')), String(warnings));
    } finally {
      process.off('warning', onWarning);
      await s.stop();
    }
  });
});
