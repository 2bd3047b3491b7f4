// Cost accounting from Node: CostTracker.trackRequest (price from the registry + add to the
// per-minute totals) and RequestLogger.record, ns per call. The Python bench
// (bench/python/bench_observe.py) sets the same call beside LiteLLM's completion_cost; Node has
// no equivalent cost library to compare with.
//
// Then the metrics export: a client holding ~1,000 series, served by a prom-client registry
// through registerMetrics, against the same series kept in prom-client's own counters,
// gauges and histograms; ms per `registry.metrics()`. Build the addon in release first:
// `make bench-node`.

import { Client, CostTracker, MockServer, RequestLogger, registerMetrics } from '@pi-builder/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const CALLS = 500_000;
const RUNS = 7;

/** Median ns per call of `runs` timed rounds of `n` calls, after one untimed warm-up round. */
function nsPerCall(n, round) {
  round(n);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    round(n);
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const tracker = new CostTracker();
const req = { model: 'gpt-4o-mini', inputTokens: 1200, outputTokens: 300 };
const cached = { model: 'claude-sonnet-4-5', inputTokens: 1200, outputTokens: 300, cacheHit: 800 };
const track = nsPerCall(CALLS, (n) => {
  for (let i = 0; i < n; i++) tracker.trackRequest(req);
});
const trackCached = nsPerCall(CALLS, (n) => {
  for (let i = 0; i < n; i++) tracker.trackRequest(cached);
});
const log = new RequestLogger({ history: 1000 });
const entry = { provider: 'openai', model: 'gpt-4o-mini', modelRequested: 'gpt-4o-mini', inputTokens: 1200, outputTokens: 300, costNanoUsd: 360_000, latencyMs: 120 };
const record = nsPerCall(CALLS / 10, (n) => {
  for (let i = 0; i < n; i++) log.record(entry);
});

console.log(`cost of one gpt-4o-mini call: $${(tracker.trackRequest(req) / 1e9).toFixed(9)}`);
console.log(`  CostTracker.trackRequest                 ${track.toFixed(0).padStart(8)} ns/call`);
console.log(`  trackRequest (claude, cached input)      ${trackCached.toFixed(0).padStart(8)} ns/call`);
console.log(`  RequestLogger.record (ring of 1000)      ${record.toFixed(0).padStart(8)} ns/call`);
console.log(`  trackRequest under 1 us: ${track < 1000 ? 'yes' : 'NO'} (${track.toFixed(0)} ns)`);

// ---------------------------------------------------------------------------------------------
// Metrics export. A series is one sample line, as Prometheus counts them: each bucket, `_sum`
// and `_count` of a histogram is one. Real calls against the mock server make them: each new
// model adds its requests, tokens, cost and breaker series and three histograms (duration,
// input and output tokens) of ~17 lines each.

const SERIES = 1_000;
const SCRAPES = 500;

/**
 * Median ms of each scrape in `scrapes` (name → async function), over `SCRAPES` rounds after
 * 50 untimed ones. The rounds take turns, so a busy machine slows each alike.
 */
async function msPerScrape(scrapes) {
  const times = Object.fromEntries(Object.keys(scrapes).map((k) => [k, []]));
  for (let i = -50; i < SCRAPES; i++) {
    for (const [k, scrape] of Object.entries(scrapes)) {
      const t0 = performance.now();
      await scrape();
      if (i >= 0) times[k].push(performance.now() - t0);
    }
  }
  const median = (t) => t.sort((a, b) => a - b)[t.length >> 1];
  return Object.fromEntries(Object.entries(times).map(([k, t]) => [k, median(t)]));
}

const sampleLines = (text) => text.split('\n').filter((l) => l && !l.startsWith('#')).length;

/** The same families, label sets and buckets in prom-client's own metrics. */
async function nativeTwin(json) {
  const registry = new Registry();
  for (const m of json) {
    const base = { name: m.name, help: m.help, registers: [registry] };
    if (m.type === 'histogram') {
      const buckets = [...new Set(m.values.filter((v) => v.labels.le !== undefined && v.labels.le !== '+Inf').map((v) => Number(v.labels.le)))];
      const series = m.values.filter((v) => v.metricName.endsWith('_count'));
      const labelNames = Object.keys(series[0]?.labels ?? {});
      const h = new Histogram({ ...base, buckets, labelNames });
      for (const s of series) h.observe(s.labels, s.value);
    } else {
      const labelNames = Object.keys(m.values[0]?.labels ?? {});
      const metric = m.type === 'counter' ? new Counter({ ...base, labelNames }) : new Gauge({ ...base, labelNames });
      for (const v of m.values) m.type === 'counter' ? metric.inc(v.labels, v.value) : metric.set(v.labels, v.value);
    }
  }
  return registry;
}

const mock = new MockServer({ seed: 1 });
try {
  const client = new Client({ providers: { p: { kind: 'openai', base_url: `${mock.url}/v1`, api_key: 'k' } } });
  for (let i = 0; sampleLines(client.metricsText()) < SERIES; i++) {
    await client.chat({ model: `p/model-${i}`, messages: [{ role: 'user', content: 'hi' }] });
  }
  const ours = new Registry();
  registerMetrics(client, ours);
  const twin = await nativeTwin(await ours.getMetricsAsJSON());
  const series = sampleLines(await ours.metrics());
  const twinSeries = sampleLines(await twin.metrics());
  const t = await msPerScrape({
    text: async () => client.metricsText(),
    ours: () => ours.metrics(),
    // Every scrape a new shape (first scrape, new label values): the families read in full.
    full: async () => {
      const fresh = new Registry();
      const reg = registerMetrics(client, fresh);
      await fresh.metrics();
      reg.unregister();
    },
    twin: () => twin.metrics(),
  });
  const row = (label, ms, extra = '') => console.log(`  ${label.padEnd(48)} ${ms.toFixed(3).padStart(7)} ms${extra}`);
  console.log(`\nmetrics export to prom-client, ${series} series (prom-client's own: ${twinSeries}), median of ${SCRAPES} scrapes:`);
  row('client.metricsText() alone', t.text);
  row('registerMetrics -> registry.metrics()', t.ours, '/scrape');
  row('  the same, families read in full (new shape)', t.full, '/scrape');
  row("prom-client's own metrics, same series", t.twin, `/scrape   ratio ${(t.twin / t.ours).toFixed(2)}x`);
  console.log(`  a scrape under 1 ms: ${t.ours <= 1 ? 'yes' : 'NO'} (${t.ours.toFixed(3)} ms)`);
} finally {
  await mock.stop();
}
