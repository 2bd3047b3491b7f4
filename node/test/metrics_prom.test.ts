// registerMetrics: a client's metrics served by a prom-client registry, next to the
// application's own metrics, with the same samples as `client.metricsText()`.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as prom from 'prom-client';
import * as core from '@pi-builder/core';
import { ask, clientFor, server } from './llm';

const mock = server();
after(() => mock.stop());

const SPECIAL: Record<string, number> = { '+Inf': Infinity, '-Inf': -Infinity, NaN: NaN, Nan: NaN };

/**
 * `name{labels}` → value for every sample line of exposition text, Prometheus or OpenMetrics.
 * Both writers escape label values alike and keep the labels in the order given, so the
 * sample's text before its value identifies it; values are compared as numbers (Rust writes
 * `1.0` where JavaScript writes `1`).
 */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    const v = line.slice(at + 1);
    out.set(line.slice(0, at), SPECIAL[v] ?? Number(v));
  }
  return out;
}

/** Every sample of the client's own text is in the registry's, with the same value. */
function assertSameSamples(registryText: string, client: core.Client): Map<string, number> {
  const ours = samples(client.metricsText());
  const theirs = samples(registryText);
  assert.ok(ours.size > 50, `a few families with buckets: ${ours.size}`);
  for (const [key, value] of ours) {
    assert.ok(theirs.has(key), `${key} missing from the registry's text:\n${registryText}`);
    assert.equal(theirs.get(key), value, key);
  }
  return theirs;
}

async function traffic(client: core.Client): Promise<void> {
  await client.chat(ask('Say hello'));
  await client.chat(ask('Say hello', { model: 'p/mock-model-2' }));
  // Label values that need escaping, end to end: quote, backslash, comma.
  await client.chat(ask('Say hello', { model: 'p/we"ird\\model,x' }));
  for await (const _ of client.chatStream(ask('Count to three'))) {
    // drain
  }
}

describe('registerMetrics', () => {
  test('a registry serves the client families with metricsText values, beside its own', async () => {
    const client = clientFor(mock);
    const registry = new prom.Registry();
    const jobs = new prom.Counter({ name: 'app_jobs_total', help: 'Jobs', labelNames: ['queue'], registers: [registry] });
    jobs.inc({ queue: 'q' }, 2);
    // Registered before any call: the families the calls create must still show up.
    const reg = core.registerMetrics(client, registry);
    await traffic(client);

    const text = await registry.metrics();
    const theirs = assertSameSamples(text, client);
    assert.equal(theirs.get('app_jobs_total{queue="q"}'), 2);
    assert.ok(text.includes('# TYPE trinity_requests_total counter'), text);
    assert.ok(text.includes('# TYPE gen_ai_client_operation_duration_seconds histogram'), text);
    assert.ok(text.includes('# HELP gen_ai_client_operation_duration_seconds GenAI operation duration.'), text);
    assert.ok(text.includes('model="we\\"ird\\\\model,x"'), 'escaped as metricsText escapes it');
    // The next scrape reads the client again: the new values, in the objects of the last.
    await client.chat(ask('Say hello'));
    const again = assertSameSamples(await registry.metrics(), client);
    assert.notDeepEqual(again, theirs);
    const streamed = [...theirs.keys()].filter((k) => k.startsWith('gen_ai_client_operation_time_to_first_chunk_seconds_bucket{'));
    assert.ok(streamed.length > 1, 'the stream family, created after registering, is there with its buckets');

    // The JSON view: histogram samples carry their own names and `le`.
    const json = await registry.getMetricsAsJSON();
    const duration = json.find((m) => m.name === 'gen_ai_client_operation_duration_seconds');
    assert.ok(duration);
    assert.equal(String(duration.type), 'histogram');
    const values = duration.values as { value: number; labels: Record<string, string>; metricName?: string }[];
    const count = values.filter((v) => v.metricName === 'gen_ai_client_operation_duration_seconds_count').reduce((a, v) => a + v.value, 0);
    const inf = values.filter((v) => v.labels.le === '+Inf').reduce((a, v) => a + v.value, 0);
    assert.equal(count, 5);
    assert.equal(inf, 5);
    assert.ok(json.some((m) => m.name === 'app_jobs_total'));

    reg.unregister();
    const left = await registry.metrics();
    assert.ok(!left.includes('trinity_') && !left.includes('gen_ai_'), left);
    assert.ok(left.includes('app_jobs_total{queue="q"} 2'));
    assert.equal(registry.getSingleMetric('trinity_requests_total'), undefined);
    reg.unregister(); // twice is harmless
  });

  test('an OpenMetrics registry gets the counters under their OpenMetrics names', async () => {
    const client = clientFor(mock);
    await traffic(client);
    const registry = new prom.Registry<prom.OpenMetricsContentType>();
    registry.setContentType(prom.Registry.OPENMETRICS_CONTENT_TYPE);
    const reg = core.registerMetrics(client, registry);
    const text = await registry.metrics();
    assertSameSamples(text, client);
    assert.ok(text.includes('# TYPE trinity_requests counter'), text);
    assert.ok(text.endsWith('# EOF\n'));
    reg.unregister();
  });

  test("prom-client's global register by default; one client's names once per registry", async () => {
    const client = clientFor(mock);
    await traffic(client);
    const reg = core.registerMetrics(client);
    try {
      assertSameSamples(await prom.register.metrics(), client);
      assert.throws(() => core.registerMetrics(client), /already been registered/);
      assert.ok(prom.register.getSingleMetric('trinity_requests_total'), 'the first registration is intact');
    } finally {
      reg.unregister();
    }
    assert.equal(prom.register.getSingleMetric('trinity_requests_total'), undefined);
  });

  test('metrics off is a ConfigError and registers nothing', () => {
    const registry = new prom.Registry();
    const off = new core.Client({ providers: { p: { kind: 'mock' } }, metrics: { enabled: false } });
    assert.throws(() => core.registerMetrics(off, registry), core.ConfigError);
    assert.equal(registry.getMetricsAsArray().length, 0);
  });
});
