// Cost accounting from Node: CostTracker.trackRequest (price from the registry + add to the
// per-minute totals) and RequestLogger.record, ns per call. The Python bench
// (bench/python/bench_observe.py) sets the same call beside LiteLLM's completion_cost; Node has
// no equivalent cost library to compare with. Build the addon in release first: `make bench-node`.

import { CostTracker, RequestLogger } from '@pi-builder/core';

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
