// client.monitor against a real mock server: a provider switched to 100% 503 is down within
// 5 s and healthy again after it recovers, each listener once, never on the call's path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';

function client(s: core.MockServer): core.Client {
  return new core.Client({
    providers: { p: { kind: 'openai', base_url: `${s.url}/v1`, api_key: 'k' } },
    retry: { max_attempts: 1 },
    breaker: { enabled: false },
    monitor: { window_s: 6, recover_s: 2, eval_interval_ms: 250 },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function trafficUntil(c: core.Client, done: () => boolean, limitMs: number): Promise<number> {
  const start = Date.now();
  while (!done()) {
    assert.ok(Date.now() - start < limitMs, `not within ${limitMs} ms`);
    await c.chat({ model: 'p/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch(() => {});
    await sleep(50);
  }
  return Date.now() - start;
}

test('a provider switched to 503 is down within 5 s and healthy after it recovers', async () => {
  const s = new core.MockServer({ seed: 4 });
  try {
    const c = client(s);
    const m = c.monitor;
    assert.equal(m.getState('p'), 'unknown');
    assert.ok(Number.isNaN(m.getLatency('p')));
    const changes: core.MonitorEvent[] = [];
    const downs: core.MonitorEvent[] = [];
    m.onStateChange((e) => changes.push(e));
    m.onProviderDown('p', (e) => downs.push(e));

    await trafficUntil(c, () => m.getState('p') === 'healthy', 10_000);
    assert.ok(m.getLatency('p') > 0);
    assert.equal(m.getErrorRate('p'), 0);
    assert.equal(m.getAvailability('p'), 1);
    assert.equal(m.getQueueDepth('p'), 0);

    s.setFaults({ rates: { '503': 1 } });
    const took = await trafficUntil(c, () => downs.length > 0, 10_000);
    assert.ok(took <= 5000, `down after ${took} ms`);
    const down = downs[0]!;
    assert.equal(down.kind, 'provider_down');
    assert.equal(down.to, 'down');
    assert.ok(down.health.consecutiveFailures >= 1 && down.health.failures >= 1);

    s.setFaults({});
    await trafficUntil(c, () => m.getState('p') === 'healthy', 30_000);
    await sleep(600);
    assert.equal(downs.length, 1);
    const to = changes.map((e) => e.to);
    const after = to.slice(to.indexOf('down'));
    assert.equal(after.filter((t) => t === 'down').length, 1, to.join());
    assert.equal(after.at(-1), 'healthy');
    const a = m.getAvailability('p');
    assert.ok(a > 0 && a < 1, `${a}`);
    const points = m.getHistoricalErrorRate('p', 1);
    assert.ok(points.reduce((n, p) => n + p.failures, 0) >= down.health.failures);
    assert.ok(m.getHistoricalLatency('p', 1).at(-1)!.p95Ms! > 0);
    assert.deepEqual(m.snapshot().map((h) => h.provider), ['p']);

    const perf = c.performance;
    assert.equal(perf.avgLatency('p'), m.getLatency('p'));
    assert.equal(perf.errorRate('p'), m.getErrorRate('p'));
    assert.ok(perf.tokensPerSecond('p') > 0);
    assert.ok(perf.avgErrorRecoveryTime('p') >= 2000, `${perf.avgErrorRecoveryTime('p')}`);
    const row = perf.report()['p']!;
    assert.equal(row.latencyMs.count, m.getHealth('p')!.answered);
    assert.ok(row.latencyMs.min! <= row.latencyMs.average! && row.latencyMs.average! <= row.latencyMs.max!);
    assert.ok(Number.isNaN(perf.p95Latency('unseen')));
    const html = perf.generateReport('html');
    assert.ok(html.startsWith('<!doctype html>') && html.includes('<polyline') && !html.includes('<script'));
    const pdf = perf.generateReport('pdf');
    assert.ok(Buffer.isBuffer(pdf) && pdf.subarray(0, 5).toString('latin1') === '%PDF-', `${pdf.subarray(0, 8)}`);
    assert.ok(pdf.includes('trinity-core performance report'));
    assert.throws(() => perf.generateReport('xml' as 'html'), core.InvalidInputError);
  } finally {
    await s.stop();
  }
});

test('a threshold out of range is an InvalidInputError', () => {
  const s = new core.MockServer({ seed: 4 });
  try {
    assert.throws(() => client(s).monitor.onHighErrorRate(null, 1.5, () => {}), core.InvalidInputError);
    assert.throws(() => s.setFaults({ rates: { '503': 2 } }), core.ConfigError);
  } finally {
    void s.stop();
  }
});
