// Resilience overheads from Node, side by side in one run: CircuitBreaker.execute from
// @pi-builder/core against opossum and cockatiel (the breakers Node users pick), each wrapping
// the same trivial async function with the same policy (count window of 20 calls, decisions
// from 10 calls, opening at a 50% failure rate, 30 s open). Overhead = time per call minus a bare
// `await fn()`. Plus the open-breaker rejection path, the native ticket pair, and
// RateLimiter.allowRequest ns/call. Build the addon in release first: `make bench-node`.

import { availableParallelism } from 'node:os';
import CircuitBreakerOpossum from 'opossum';
import { circuitBreaker, CountBreaker, handleAll } from 'cockatiel';
import { CircuitBreaker, RateLimiter, version } from '@pi-builder/core';

const CALLS = 200_000;
const RUNS = 7;

/** Median ns per call of `runs` timed rounds of `n` calls, after one untimed warm-up round. */
async function nsPerCall(n, round) {
  await round(n);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await round(n);
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const fn = async () => 1;
const failing = async () => {
  throw new Error('down');
};

// The same policy in each library.
const ours = new CircuitBreaker({ windowSize: 20, minimumCalls: 10, failureRateThreshold: 0.5, openWaitMs: 30_000 });
const opossumOpts = { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: 30_000 };
const opossum = new CircuitBreakerOpossum(fn, opossumOpts); // its default 10 s timeout: a timer per call
const opossumNoTimeout = new CircuitBreakerOpossum(fn, { ...opossumOpts, timeout: false });
const cockatielPolicy = (halfOpenAfter = 30_000) =>
  circuitBreaker(handleAll, {
    halfOpenAfter,
    breaker: new CountBreaker({ threshold: 0.5, size: 20, minimumNumberOfCalls: 10 }),
  });
const cockatiel = cockatielPolicy();

async function loop(n, call) {
  let s = 0;
  for (let i = 0; i < n; i++) s += await call();
  if (s !== n) throw new Error(`expected ${n} successes, got ${s}`);
}

async function rejections(n, call) {
  let r = 0;
  for (let i = 0; i < n; i++) {
    try {
      await call();
    } catch {
      r++;
    }
  }
  if (r !== n) throw new Error(`expected ${n} rejections, got ${r}`);
}

const bare = await nsPerCall(CALLS, (n) => loop(n, fn));
const rows = [];
const fmt = (x, d = 0) => x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
function row(what, oursNs, others) {
  rows.push([what, `${fmt(oursNs)} ns`, ...others.map(([name, ns]) => `${name} ${fmt(ns)} ns (${fmt(ns / oursNs, 1)}x)`)]);
}

// Success path: overhead over the bare call.
const oursOk = (await nsPerCall(CALLS, (n) => loop(n, () => ours.execute(fn)))) - bare;
const opOk = (await nsPerCall(CALLS, (n) => loop(n, () => opossum.fire()))) - bare;
const opNtOk = (await nsPerCall(CALLS, (n) => loop(n, () => opossumNoTimeout.fire()))) - bare;
const coOk = (await nsPerCall(CALLS, (n) => loop(n, () => cockatiel.execute(fn)))) - bare;
if (ours.getState() !== 'closed' || opossum.opened || opossumNoTimeout.opened) throw new Error('a breaker opened on successes');
row('execute overhead, success (ns/call over a bare await)', oursOk, [
  ['opossum', opOk],
  ['opossum timeout:false', opNtOk],
  ['cockatiel', coOk],
]);

// Rejection by an open breaker: the fast-fail path.
ours.setState('forced-open');
// Open for an hour, so none of them probes during the measurement.
const opOpen = new CircuitBreakerOpossum(fn, { ...opossumOpts, timeout: false, resetTimeout: 3_600_000 });
opOpen.open();
const coOpen = cockatielPolicy(3_600_000);
for (let i = 0; i < 20; i++) await coOpen.execute(failing).catch(() => {});
const oursRej = await nsPerCall(CALLS / 4, (n) => rejections(n, () => ours.execute(fn)));
const opRej = await nsPerCall(CALLS / 4, (n) => rejections(n, () => opOpen.fire()));
const coRej = await nsPerCall(CALLS / 4, (n) => rejections(n, () => coOpen.execute(fn)));
row('open breaker rejects (ns/call)', oursRej, [
  ['opossum', opRej],
  ['cockatiel', coRej],
]);
ours.setState('closed');

// The two native calls execute makes, without the await.
const SYNC = 2_000_000;
const pair = await nsPerCall(SYNC, (n) => {
  for (let i = 0; i < n; i++) ours.record(ours.tryAcquire(), 'success');
});
row('tryAcquire + record, sync native pair (ns/call)', pair, []);

// RateLimiter.allowRequest: admitted (limits far above the load), rejected, no limit set.
const limiter = new RateLimiter();
limiter.setLimit('big', 1e9, 1e12, 100); // never reached; a 100 ms window keeps the logs short
const adm = await nsPerCall(SYNC, (n) => {
  for (let i = 0; i < n; i++) if (!limiter.allowRequest('big', 100)) throw new Error('rejected');
});
row('RateLimiter.allowRequest, admitted (ns/call)', adm, []);
limiter.setLimit('full', 1, undefined, 3_600_000);
limiter.allowRequest('full');
const rej = await nsPerCall(SYNC / 4, (n) => {
  for (let i = 0; i < n; i++) if (limiter.allowRequest('full', 1)) throw new Error('admitted');
});
row('RateLimiter.allowRequest, rejected (ns/call)', rej, []);
const none = await nsPerCall(SYNC, (n) => {
  for (let i = 0; i < n; i++) if (!limiter.allowRequest('unlimited', 100)) throw new Error('rejected');
});
row('RateLimiter.allowRequest, no limit set (ns/call)', none, []);

console.log(`@pi-builder/core ${version}, node ${process.version}, ${availableParallelism()} cores; bare await fn(): ${fmt(bare)} ns/call`);
console.log('ratios: the other library\'s time over ours (above 1: ours is faster)\n');
const width = Math.max(...rows.map((r) => r[0].length));
for (const [what, o, ...rest] of rows) console.log(`${what.padEnd(width)}  ours ${o.padStart(8)}${rest.length ? '  |  ' + rest.join('  |  ') : ''}`);

for (const b of [opossum, opossumNoTimeout, opOpen]) b.shutdown(); // their reset timers would hold the process
