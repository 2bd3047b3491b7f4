// CostTracker and RequestLogger (seed 004's names): exact sums, unpriced calls counted, Maps by
// provider and model, budget alerts, CSV with hostile names, the ring, queries, exports, the
// JSON Lines sink rotated by size (real files) and no key in any record or export.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@pi-builder/core';
import { throwsCode } from './helpers';

const T0 = Date.UTC(2026, 11, 3);
const MIN = 60_000;
const DAY = 86_400_000;
const KEYS = ['sk-proj-Abcdefghijklmnop1234567890', 'sk-ant-api03-Zyxwvutsrqponm_lkjih-gfedcba', 'AIzaSyA1234567890abcdefghijklmnopqrstu'];
const HOSTILE = ['plain', 'comma, inside', 'quote " inside', 'line\nbreak', '=1+1'];

/** A minimal RFC 4180 reader, to check the export without trusting its writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

describe('CostTracker', () => {
  test('trackRequest prices from the registry; unpriced calls are counted, never $0', () => {
    const t = new core.CostTracker();
    assert.equal(t.trackRequest({ model: 'gpt-4o-mini', inputTokens: 7, outputTokens: 3 }), 2850);
    const cached = t.trackRequest({ model: 'gpt-4o-mini', inputTokens: 7, outputTokens: 3, cacheHit: 7 });
    assert.ok(cached !== null && cached < 2850);
    assert.equal(t.trackRequest({ model: 'no-such-model-xyz', inputTokens: 1, outputTokens: 1 }), null);
    const now = Date.now();
    const byProvider = t.getCostByProvider(new Date(now - 120_000), new Date(now + 120_000));
    assert.ok(byProvider instanceof Map);
    assert.equal(byProvider.get('openai')?.requests, 2);
    assert.equal(byProvider.get('openai')?.cachedTokens, 7);
    assert.equal(byProvider.get('unknown')?.unpricedRequests, 1);
    assert.equal(byProvider.get('unknown')?.usd, 0);
    assert.equal(t.getCostByModel(now - 120_000, now + 120_000).get('gpt-4o-mini')?.requests, 2);
    assert.equal(t.getSummary(now - 120_000, now + 120_000).nanoUsd, 2850 + (cached ?? 0));
    throwsCode(() => t.trackRequest({ model: 'gpt-4o', inputTokens: -1, outputTokens: 0 }), 'invalid_input');
  });

  test('sums are exact in nano-USD and memory stays within the bucket bound', () => {
    const t = new core.CostTracker({ retentionMinutes: 60 });
    for (let i = 0; i < 100_000; i++) {
      t.track({ timestampMs: T0 + Math.floor(i / 10) * MIN, provider: 'openai', model: `m${i % 2}`, costNanoUsd: 28_500 });
    }
    assert.ok(t.stats().buckets <= 60 * 2);
    const last = T0 + 10_000 * MIN;
    const s = t.getSummary(last - 60 * MIN, last);
    assert.equal(s.requests, 600);
    assert.equal(s.nanoUsd, 600 * 28_500);
    const exact = new core.CostTracker();
    for (let i = 0; i < 100_000; i++) exact.track({ timestampMs: T0, provider: 'p', model: 'm', costNanoUsd: 28_500 });
    exact.track({ timestampMs: T0, provider: 'p', model: 'm', costNanoUsd: null });
    const total = exact.getSummary(new Date(T0), new Date(T0 + DAY));
    assert.equal(total.nanoUsd, 2_850_000_000);
    assert.equal(exact.getTotalCost(T0, T0 + DAY), 2.85);
    assert.equal(total.unpricedRequests, 1);
  });

  test('getBudgetAlert reports each threshold of the UTC day', () => {
    const t = new core.CostTracker();
    const now = T0 + 3_600_000;
    assert.deepEqual(t.getBudgetAlert(10, { now }), []);
    t.track({ timestampMs: T0 + MIN, provider: 'openai', model: 'gpt-4o', costNanoUsd: 10_000_000_000 });
    const alerts = t.getBudgetAlert(10, { now });
    assert.deepEqual(
      alerts.map((a) => [a.threshold, a.severity]),
      [
        [0.5, 'info'],
        [0.8, 'warning'],
        [1, 'critical'],
      ],
    );
    assert.equal(alerts[0]?.day, '2026-12-03');
    throwsCode(() => t.getBudgetAlert(0), 'invalid_input');
  });

  test('exportCSV is read back equal with hostile names', () => {
    const t = new core.CostTracker();
    HOSTILE.forEach((n, i) => t.track({ timestampMs: T0 + i * MIN, provider: n, model: `m ${n}`, costNanoUsd: 1_000_000_001 }));
    const rows = parseCsv(t.exportCSV(new Date(T0), new Date(T0 + DAY)));
    assert.deepEqual(rows[0]?.slice(0, 3), ['minute', 'provider', 'model']);
    assert.deepEqual(
      rows.slice(1).map((r) => [r[1], r[2]]),
      HOSTILE.map((n) => [n, `m ${n}`]),
    );
    assert.equal(rows[1]?.[7], '1.000000001');
  });
});

describe('RequestLogger', () => {
  test('the ring keeps the newest history entries; queries filter', () => {
    const log = new core.RequestLogger({ history: 20 });
    for (let i = 0; i < 100; i++) {
      log.record({ timestampMs: T0 + i * 1000, provider: i % 2 ? 'openai' : 'anthropic', modelRequested: 'm', latencyMs: i });
    }
    assert.equal(log.size, 20);
    const h = log.getHistory(3);
    assert.deepEqual(
      h.map((e) => e.timestampMs),
      [97, 98, 99].map((i) => T0 + i * 1000),
    );
    assert.equal(h[0]?.schemaVersion, 1);
    assert.equal(log.query({ provider: 'openai' }).length, 10);
    assert.equal(log.query({ provider: 'openai', minLatencyMs: 95 }).length, 3);
    assert.equal(log.query({ start: new Date(T0 + 90_000), end: T0 + 95_000 }).length, 5);
    assert.equal(log.query({ status: 'success', limit: 4 }).length, 4);
  });

  test('logRequest / logResponse / logError make one entry each, with DebugInfo', () => {
    const log = new core.RequestLogger();
    const request = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], temperature: 0.1 };
    const id = log.logRequest(request);
    const entry = log.logResponse(
      { provider: 'openai', content: 'hello', usage: { promptTokens: 12, completionTokens: 3 }, costNanoUsd: 60_000, latencyMs: 40, timeToFirstTokenMs: 9 },
      request,
    );
    assert.equal(entry.requestId, id);
    assert.equal(entry.status, 'success');
    assert.equal(entry.inputTokens, 12);
    assert.equal(entry.messages, null, 'bodies are off by default');
    assert.equal(entry.response, null);
    const d = core.debugInfo(entry);
    assert.deepEqual([d.requestId, d.cost, d.timeToFirstTokenMs, d.inputTokens], [id, 6e-5, 9, 12]);
    const failed = log.logError(new core.RateLimitedError('slow down'), { model: 'gpt-4o' });
    assert.equal(failed.status, 'error');
    assert.equal(failed.errorCode, 'rate_limited');
    assert.equal(log.query({ status: 'rate_limited' }).length, 1);
    const bodies = new core.RequestLogger({ logBodies: true });
    const r2 = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
    bodies.logRequest(r2);
    assert.equal(bodies.logResponse({ content: 'hello' }, r2).response, 'hello');
  });

  test('no key in any entry or export after errors that carry one', () => {
    const log = new core.RequestLogger();
    for (const key of KEYS) {
      log.logError(new Error(`Incorrect API key provided: ${key}`), { model: 'gpt-4o' });
      log.logError({ code: 'auth', message: `Authorization: Bearer ${key}` }, log.logRequest({ model: 'm' }));
    }
    const texts = [JSON.stringify(log.getHistory(100)), log.exportLogs('json'), log.exportLogs('csv'), log.exportLogs('jsonl')];
    for (const text of texts) {
      for (const key of KEYS) assert.ok(!text.includes(key), `${key} leaked`);
      assert.ok(text.includes('[REDACTED]'));
    }
    throwsCode(() => log.exportLogs('xml' as 'json'), 'invalid_input');
  });

  test('exports read back; the sink rotates by size into JSON Lines files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trinity-log-'));
    const path = join(dir, 'requests.jsonl');
    const log = new core.RequestLogger({ history: 5, sink: { path, maxBytes: 2048, maxFiles: 2 } });
    for (let i = 0; i < 200; i++) log.record({ timestampMs: T0 + i, provider: HOSTILE[i % HOSTILE.length] ?? null, modelRequested: 'm' });
    assert.equal(log.sinkErrors, 0);
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['requests.jsonl', 'requests.jsonl.1', 'requests.jsonl.2']);
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(Buffer.byteLength(text) <= 2048);
      const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { schema_version: number });
      assert.ok(lines.length > 0 && lines.every((r) => r.schema_version === 1));
    }
    const json = JSON.parse(log.exportLogs('json')) as { provider: string }[];
    const csvRows = parseCsv(log.exportLogs('csv'));
    const col = csvRows[0]?.indexOf('provider') ?? -1;
    assert.deepEqual(
      csvRows.slice(1).map((r) => r[col]),
      json.map((r) => r.provider),
    );
    throwsCode(() => new core.RequestLogger({ sink: { path: join(dir, 'nope', 'x.jsonl') } }), 'config');
  });
});
