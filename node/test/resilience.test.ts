// CircuitBreaker, RateLimiter, RequestQueue, ProviderFailover and ProviderPool: decisions come
// from the core; the protected functions are JS. No timing assertions: waits are driven by
// explicit gates (promises resolved by the test) and by long windows that never expire.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { throwsCode } from './helpers';

const fail = (): Promise<never> => Promise.reject(new core.ProviderError('upstream 503', { status: 503 }));
const ok = <T>(v: T) => (): Promise<T> => Promise.resolve(v);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

/** A promise and its resolver, for gates the test opens by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Yields to the event loop until `cond` holds (the core answers from its own threads). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

describe('CircuitBreaker', () => {
  test('opens at exactly call 10 (window 20, minimum 10, threshold 0.5) and rejects with CircuitOpenError', async () => {
    const b = new core.CircuitBreaker({ name: 'b1', windowSize: 20, minimumCalls: 10, failureRateThreshold: 0.5, openWaitMs: 60_000 });
    let calls = 0;
    const failing = () => {
      calls++;
      return fail();
    };
    for (let i = 1; i <= 9; i++) {
      const e = await rejection(b.execute(failing));
      assert.ok(e instanceof core.ProviderError, `call ${i}: the callee's own error passes through`);
      assert.equal(b.getState(), 'closed', `still closed after call ${i}`);
    }
    await rejection(b.execute(failing));
    assert.equal(b.getState(), 'open', 'open after call 10');
    assert.equal(calls, 10);

    const e = await rejection(b.execute(failing));
    assert.ok(e instanceof core.CircuitOpenError && e instanceof core.TrinityError, String(e));
    assert.equal(e.code, 'circuit_open');
    assert.equal(e.details?.breaker, 'b1');
    assert.equal(e.details?.state, 'open');
    assert.ok(typeof e.details?.retry_after_ms === 'number' && e.details.retry_after_ms > 0);
    assert.equal(calls, 10, 'an open breaker does not call the function');
    const s = b.stats();
    assert.equal(s.state, 'open');
    assert.equal(s.notPermitted, 1);
  });

  test('setFailureThreshold(10, 20) is the same breaker; successes keep it closed', async () => {
    const b = new core.CircuitBreaker();
    b.setFailureThreshold(10, 20);
    b.setResetTimeout(60_000);
    const s = b.settings();
    assert.deepEqual(
      [s.windowType, s.windowSize, s.minimumCalls, s.failureRateThreshold, s.openWaitMs],
      ['count', 20, 10, 0.5, 60_000],
    );
    // 11 successes then 9 failures: 9/20 < 0.5, closed.
    for (let i = 0; i < 11; i++) assert.equal(await b.execute(ok(i)), i);
    for (let i = 0; i < 9; i++) await rejection(b.execute(fail));
    assert.equal(b.getState(), 'closed');
    // The 10th failure pushes out a success: 10/20, open.
    await rejection(b.execute(fail));
    assert.equal(b.getState(), 'open');
    throwsCode(() => b.setFailureThreshold(5, 2), 'invalid_input', core.InvalidInputError);
  });

  test('half-open probes: a bounded number admitted; successes close, a failure reopens', async () => {
    const b = new core.CircuitBreaker({ openWaitMs: 60_000, failureRateThreshold: 0.5 });
    b.setSuccessThreshold(2);
    b.setState('half-open');
    assert.equal(b.getState(), 'half-open');

    // Two probes in flight; a third call is rejected while they run.
    const g1 = gate<string>();
    const g2 = gate<string>();
    const p1 = b.execute(() => g1.promise);
    const p2 = b.execute(() => g2.promise);
    const third = await rejection(b.execute(ok('x')));
    assert.ok(third instanceof core.CircuitOpenError);
    assert.equal((third as core.TrinityError).details?.state, 'half_open');
    g1.open('a');
    g2.open('b');
    assert.deepEqual(await Promise.all([p1, p2]), ['a', 'b']);
    assert.equal(b.getState(), 'closed', 'two successful probes close it');

    // Again half-open: one probe fails, the other succeeds: 1/2 >= 0.5 reopens.
    b.setState('half-open');
    await rejection(b.execute(fail));
    assert.equal(await b.execute(ok(1)), 1);
    assert.equal(b.getState(), 'open');

    // A cancelled probe frees its slot instead of counting.
    b.setState('half-open');
    const ac = new AbortController();
    const aborted = b.execute(
      () =>
        new Promise((_, reject) => {
          ac.signal.addEventListener('abort', () => reject(new core.CancelledError('gave up')));
        }),
    );
    ac.abort();
    assert.ok((await rejection(aborted)) instanceof core.CancelledError);
    assert.equal(await b.execute(ok(1)), 1);
    assert.equal(await b.execute(ok(2)), 2);
    assert.equal(b.getState(), 'closed');
  });

  test('forced-open rejects, disabled admits and records nothing; tickets by hand', async () => {
    const b = new core.CircuitBreaker({ minimumCalls: 1, windowSize: 1 });
    b.setState('forced-open');
    assert.ok((await rejection(b.execute(ok(1)))) instanceof core.CircuitOpenError);
    throwsCode(() => b.tryAcquire(), 'circuit_open', core.CircuitOpenError);
    b.setState('disabled');
    await rejection(b.execute(fail));
    assert.equal(b.getState(), 'disabled');
    b.setState('closed');
    const t = b.tryAcquire();
    assert.equal(b.record(t, 'failure'), true);
    assert.equal(b.record(t, 'failure'), false, 'a ticket is recorded once');
    assert.equal(b.getState(), 'open');
    throwsCode(() => b.setState('ajar' as core.BreakerState), 'invalid_input');
    throwsCode(() => new core.CircuitBreaker({ failureRateThreshold: 2 }), 'config', core.ConfigError);
  });

  test('isFailure: errors it rejects count as neither', async () => {
    const b = new core.CircuitBreaker({ minimumCalls: 1, windowSize: 1, isFailure: (e) => !(e instanceof core.InvalidInputError) });
    await rejection(b.execute(() => Promise.reject(new core.InvalidInputError('bad request', { status: 400 }))));
    assert.equal(b.getState(), 'closed');
    assert.equal(b.stats().calls, 0);
    await rejection(b.execute(fail));
    assert.equal(b.getState(), 'open');
  });
});

describe('RateLimiter', () => {
  test('allowRequest counts requests and tokens; getRetryAfter says how long', () => {
    const r = new core.RateLimiter();
    r.setLimit('openai', 3, 1000);
    assert.equal(r.getRetryAfter('openai'), 0);
    assert.equal(r.allowRequest('openai', 400), true);
    assert.equal(r.allowRequest('openai', 400), true);
    assert.equal(r.getRemainingTokens('openai'), 200);
    assert.equal(r.allowRequest('openai', 400), false, 'tokens would exceed tpm');
    assert.ok(r.getRetryAfter('openai', 400) > 0);
    assert.equal(r.allowRequest('openai', 100), true);
    assert.equal(r.allowRequest('openai', 1), false, 'rpm reached');
    const retry = r.getRetryAfter('openai');
    assert.ok(retry > 0 && retry <= 60_000, String(retry));
    const s = r.stats('openai')!;
    assert.equal(s.admitted, 3);
    assert.equal(s.rejected, 2);
    assert.equal(s.remainingRequests, 0);
    assert.equal(s.tokensInWindow, 900);
  });

  test('unlimited providers, impossible requests, bad limits', () => {
    const r = new core.RateLimiter();
    assert.equal(r.allowRequest('nobody', 1e9), true);
    assert.equal(r.getRemainingTokens('nobody'), Infinity);
    assert.equal(r.getRetryAfter('nobody'), 0);
    assert.equal(r.stats('nobody'), null);
    r.setLimit('rpm-only', 2);
    assert.equal(r.getRemainingTokens('rpm-only'), Infinity);
    assert.equal(r.getRemainingRequests('rpm-only'), 2);
    r.setLimit('small', undefined, 10);
    const e = throwsCode(() => r.allowRequest('small', 11), 'rate_limited', core.RateLimitedError);
    assert.equal(e.details?.retryable, false);
    throwsCode(() => r.setLimit('x', 0), 'invalid_input');
    throwsCode(() => r.setLimit('x', -1), 'invalid_input');
    assert.deepEqual(r.providers(), ['rpm-only', 'small']);
  });

  test('admit + reconcile: an over-estimate gives its tokens back', () => {
    const r = new core.RateLimiter();
    r.setLimit('p', undefined, 1000);
    const a = r.admit('p', 800);
    assert.ok(a !== null && a.id >= 0);
    assert.equal(r.admit('p', 300), null, '800 + 300 > 1000');
    r.reconcile(a, 100);
    assert.equal(r.getRemainingTokens('p'), 900);
    assert.notEqual(r.admit('p', 300), null);
    assert.equal(r.getRemainingTokens('p'), 600);
    const free = r.admit('unlimited', 1e9);
    assert.equal(free?.id, -1);
    r.reconcile(free!, 5);
  });

  test('queue waits its turn, then runs fn; an aborted wait leaves the line', async () => {
    const r = new core.RateLimiter();
    r.setLimit('p', 1, undefined, 50);
    assert.equal(await r.queue('p', ok('first')), 'first');
    // The window holds one request: this one waits for it to slide out (50 ms), then runs.
    assert.equal(await r.queue('p', ok('second')), 'second');
    r.setLimit('slow', 1, undefined, 3_600_000);
    assert.equal(r.allowRequest('slow'), true);
    const ac = new AbortController();
    let ran = false;
    const waiting = r.queue('slow', () => (ran = true), 0, { signal: ac.signal });
    await tick();
    assert.equal(r.allowRequest('slow'), false);
    ac.abort();
    assert.ok((await rejection(waiting)) instanceof core.CancelledError);
    assert.equal(ran, false);
  });
});

describe('RequestQueue', () => {
  test('never more than N in flight over many tasks, some rejected or cancelled', async () => {
    const N = 4;
    const q = new core.RequestQueue({ maxConcurrency: N, maxLength: 150 });
    let running = 0;
    let peak = 0;
    const hold = gate();
    const task = async (i: number): Promise<number> => {
      running++;
      peak = Math.max(peak, running);
      await hold.promise;
      await tick();
      if (i % 7 === 0) {
        running--;
        throw new Error(`task ${i} failed`);
      }
      running--;
      return i;
    };
    const controllers: AbortController[] = [];
    const results = Array.from({ length: 200 }, (_, i) => {
      const opts: { signal?: AbortSignal } = {};
      if (i % 10 === 5) {
        const ac = new AbortController();
        controllers.push(ac);
        opts.signal = ac.signal;
      }
      return q.enqueue(() => task(i), i % 3, opts);
    });
    const all = Promise.allSettled(results); // handled now: rejections arrive while we wait
    // Every request has reached the core (the first N run and hold their slots), then the
    // aborts, then the running ones are let go.
    await until(() => {
      const st = q.stats();
      return st.length + st.inFlight + st.rejected === 200;
    });
    assert.equal(q.inFlight, N);
    assert.equal(q.length, 150);
    for (const ac of controllers) ac.abort();
    hold.open();
    const settled = await all;
    const codes = new Map<string, number>();
    for (const s of settled) {
      const key = s.status === 'fulfilled' ? 'ok' : s.reason instanceof core.TrinityError ? s.reason.code : 'task error';
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    assert.ok(peak <= N, `peak ${peak} > ${N}`);
    assert.equal(peak, N);
    assert.ok((codes.get('rate_limited') ?? 0) > 0, 'a full queue rejects');
    assert.ok((codes.get('cancelled') ?? 0) > 0, 'aborted waiters are cancelled');
    assert.ok((codes.get('task error') ?? 0) > 0, "a task's own error passes through");
    assert.equal(q.inFlight, 0);
    assert.equal(q.length, 0);
    const s = q.stats();
    assert.equal(s.completed, codes.get('ok')! + codes.get('task error')!);
    assert.equal(s.rejected, codes.get('rate_limited'));
    assert.equal(s.cancelled, codes.get('cancelled'));
    assert.ok(s.averageWaitMs >= 0 && s.throughputPerS >= 0 && s.estimatedWaitMs === 0);
    assert.equal(q.getQueueLength(), 0);
  });

  test('higher priority goes first', async () => {
    const q = new core.RequestQueue({ maxConcurrency: 1 });
    const g = gate();
    const order: string[] = [];
    const first = q.enqueue(() => g.promise);
    await until(() => q.inFlight === 1);
    const rest = [
      q.enqueue(() => order.push('low'), 0),
      q.enqueue(() => order.push('high'), 5),
      q.enqueue(() => order.push('mid'), 2),
    ];
    await until(() => q.length === 3);
    assert.ok(q.getEstimatedWaitTime() >= 0);
    g.open();
    await Promise.all([first, ...rest]);
    assert.deepEqual(order, ['high', 'mid', 'low']);
    throwsCode(() => new core.RequestQueue({ maxConcurrency: 0 }), 'invalid_input');
  });
});

type Task = { prompt: string };

describe('ProviderFailover', () => {
  test('primary always failing (503) is served by the fallback, and later skipped', async () => {
    let primaryCalls = 0;
    const f = new core.ProviderFailover<Task, string>({
      providers: {
        primary: async () => {
          primaryCalls++;
          throw new core.ProviderError('service unavailable', { status: 503 });
        },
        fallback: async (task, ctx) => `${ctx.provider}: ${task.prompt}`,
      },
    });
    f.setErrorThreshold(3, 6);
    for (let i = 0; i < 5; i++) {
      const r = await f.execute({ prompt: 'hi' }, 'primary', ['fallback']);
      assert.equal(r.provider, 'fallback');
      assert.equal(r.value, 'fallback: hi');
      assert.equal(r.attempts[0]?.provider, 'primary');
    }
    assert.equal(primaryCalls, 3, 'the primary is skipped once its breaker opens');
    assert.equal(f.breaker('primary').getState(), 'open');
    const r = await f.execute({ prompt: 'hi' }, 'primary', ['fallback']);
    assert.equal(r.attempts[0]?.outcome, 'skipped');
  });

  test('a non-retryable error (400) does not fail over', async () => {
    let fallbackCalls = 0;
    const f = new core.ProviderFailover<Task, string>()
      .addProvider('primary', async () => {
        throw new core.InvalidInputError('bad request', { status: 400 });
      })
      .addProvider('fallback', async () => {
        fallbackCalls++;
        return 'x';
      });
    const e = await rejection(f.execute({ prompt: 'hi' }, 'primary', ['fallback']));
    assert.ok(e instanceof core.InvalidInputError, String(e));
    assert.equal(fallbackCalls, 0);
    assert.equal(f.breaker('primary').stats().failures, 0, "the caller's error is not the provider's fault");
  });

  test('setLatencyThreshold: a provider slower than the threshold is skipped once its window says so', async () => {
    let slowCalls = 0;
    const f = new core.ProviderFailover<Task, string>({
      providers: {
        // Answers well, but always after 20 ms: slower than the 1 ms threshold on any machine.
        slow: async () => {
          slowCalls++;
          await new Promise((r) => setTimeout(r, 20));
          return 'slow';
        },
        fast: async () => 'fast',
      },
    });
    f.setErrorThreshold(2, 4);
    f.setLatencyThreshold(1);
    const s = f.breaker('slow').settings();
    assert.deepEqual([s.slowCallMs, s.slowCallRateThreshold, s.minimumCalls], [1, 0.5, 2]);
    assert.equal((await f.execute({ prompt: '' }, 'slow', ['fast'])).provider, 'slow');
    assert.equal((await f.execute({ prompt: '' }, 'slow', ['fast'])).provider, 'slow');
    assert.equal(f.breaker('slow').getState(), 'open');
    const r = await f.execute({ prompt: '' }, 'slow', ['fast']);
    assert.equal(r.provider, 'fast');
    assert.equal(slowCalls, 2);
  });

  test('all failing: ProviderError listing every attempt; unknown provider: invalid_input', async () => {
    const f = new core.ProviderFailover<Task, string>({ providers: { a: fail, b: async () => Promise.reject(Object.assign(new Error('boom'), { status: 502 })) } });
    const e = await rejection(f.execute({ prompt: '' }, 'a', ['b']));
    assert.ok(e instanceof core.ProviderError, String(e));
    assert.deepEqual(
      (e.details?.providers as Array<{ provider: string }>).map((p) => p.provider),
      ['a', 'b'],
    );
    assert.ok((await rejection(f.execute({ prompt: '' }, 'a', ['nope']))) instanceof core.InvalidInputError);
    assert.equal(core.isRetryableError(new core.RateLimitedError('429')), true);
    assert.equal(core.isRetryableError(new core.ProviderError('404', { status: 404 })), false);
    assert.equal(core.isRetryableError(new core.AuthError('401')), false);
  });
});

describe('ProviderPool', () => {
  test('executeRaceFirst returns the first good answer and aborts the rest', async () => {
    const slow = gate<string>();
    let slowAborted = false;
    const pool = new core.ProviderPool<Task, string>({
      providers: {
        broken: fail,
        fast: async (t) => `fast: ${t.prompt}`,
        slow: (_t, { signal }) => {
          signal.addEventListener('abort', () => (slowAborted = true));
          return slow.promise;
        },
      },
    });
    const r = await pool.executeRaceFirst({ prompt: 'q' }, ['slow', 'broken', 'fast']);
    assert.equal(r.provider, 'fast');
    assert.equal(r.value, 'fast: q');
    assert.equal(slowAborted, true);
    slow.open('late');
    const all = await rejection(pool.executeRaceFirst({ prompt: 'q' }, ['broken']));
    assert.ok(all instanceof core.ProviderError);
  });

  test('executeParallel settles every provider in order', async () => {
    const pool = new core.ProviderPool<Task, string>({ providers: { a: ok('A'), b: fail, c: ok('C') } });
    const rs = await pool.executeParallel({ prompt: '' }, ['a', 'b', 'c']);
    assert.deepEqual(
      rs.map((r) => [r.provider, r.ok]),
      [
        ['a', true],
        ['b', false],
        ['c', true],
      ],
    );
    const b = rs[1]!;
    assert.ok(!b.ok && b.error instanceof core.ProviderError);
  });

  test('executeCostOptimal tries the cheapest within budget first', async () => {
    const calls: string[] = [];
    const mk = (name: string, cost: number, good: boolean) => ({
      cost,
      call: async () => {
        calls.push(name);
        if (!good) throw new core.ProviderError('down', { status: 500 });
        return name;
      },
    });
    const pool = new core.ProviderPool<Task, string>({
      providers: { pricey: mk('pricey', 0.5, true), cheap: mk('cheap', 0.01, false), mid: mk('mid', 0.1, true) },
    });
    const r = await pool.executeCostOptimal({ prompt: '' }, ['pricey', 'cheap', 'mid'], 0.2);
    assert.equal(r.provider, 'mid');
    assert.deepEqual(calls, ['cheap', 'mid']);
    const e = await rejection(pool.executeCostOptimal({ prompt: '' }, ['pricey'], 0.2));
    assert.ok(e instanceof core.BudgetExceededError);
  });
});

describe('provider routing on the core router', () => {
  test('failover: a primary always failing 503 serves ≥ 99% from the fallback over 200 calls; its breaker opens', async () => {
    let primaryCalls = 0;
    let fallbackCalls = 0;
    const f = new core.ProviderFailover<Task, string>({
      breaker: { openWaitMs: 60_000 },
      providers: {
        primary: async () => {
          primaryCalls++;
          throw new core.ProviderError('service unavailable', { status: 503 });
        },
        fallback: async () => {
          fallbackCalls++;
          return 'ok';
        },
      },
    });
    let served = 0;
    for (let i = 0; i < 200; i++) {
      const r = await f.execute({ prompt: String(i) }, 'primary', ['fallback']);
      if (r.provider === 'fallback' && r.value === 'ok') served++;
    }
    assert.ok(served >= 198, `served by the fallback: ${served}/200`);
    assert.equal(fallbackCalls, 200);
    assert.equal(f.breaker('primary').getState(), 'open');
    // The core defaults: evaluated from 20 calls on, opens at a failure rate of 0.65.
    assert.equal(primaryCalls, 20, 'the open breaker keeps the router off the primary');
    assert.ok(primaryCalls < 200);
  });

  test('a 400-like InvalidInputError never fails over, even with retries allowed', async () => {
    let primaryCalls = 0;
    let fallbackCalls = 0;
    const f = new core.ProviderFailover<Task, string>({
      retry: { maxAttempts: 3, baseMs: 1, capMs: 2 },
      providers: {
        primary: async () => {
          primaryCalls++;
          throw new core.InvalidInputError('bad request', { status: 400 });
        },
        fallback: async () => {
          fallbackCalls++;
          return 'x';
        },
      },
    });
    for (let i = 0; i < 5; i++) {
      const e = await rejection(f.execute({ prompt: '' }, 'primary', ['fallback']));
      assert.ok(e instanceof core.InvalidInputError, String(e));
      assert.equal(e.details?.status, 400);
      assert.ok(e.cause instanceof core.InvalidInputError, "the provider's own error is the cause");
    }
    assert.equal(primaryCalls, 5, 'not retried');
    assert.equal(fallbackCalls, 0);
    assert.equal(f.breaker('primary').getState(), 'closed');
  });

  test('retry policy: a 503 is retried on the same provider before failing over', async () => {
    let calls = 0;
    const f = new core.ProviderFailover<Task, string>({
      retry: { maxAttempts: 3, baseMs: 1, capMs: 2 },
      providers: {
        flaky: async () => {
          calls++;
          if (calls < 3) throw new core.ProviderError('unavailable', { status: 503 });
          return 'third time';
        },
        fallback: async () => 'fallback',
      },
    });
    const r = await f.execute({ prompt: '' }, 'flaky', ['fallback']);
    assert.equal(r.provider, 'flaky');
    assert.equal(r.value, 'third time');
    assert.equal(r.attempts.length, 2);
    assert.equal(calls, 3);
  });

  test('race returns the first good answer and aborts every loser', async () => {
    const hold = gate<string>();
    const aborted: string[] = [];
    let winnerSignal: AbortSignal | undefined;
    const slow = (_t: Task, { provider, signal }: { provider: string; signal: AbortSignal }) => {
      signal.addEventListener('abort', () => aborted.push(provider));
      return hold.promise;
    };
    const pool = new core.ProviderPool<Task, string>({
      providers: {
        slow1: slow,
        slow2: slow,
        broken: fail,
        fast: async (t, { signal }) => {
          winnerSignal = signal;
          await tick();
          return `fast: ${t.prompt}`;
        },
      },
    });
    const r = await pool.executeRaceFirst({ prompt: 'q' }, ['slow1', 'broken', 'slow2', 'fast']);
    assert.equal(r.provider, 'fast');
    assert.equal(r.value, 'fast: q');
    assert.deepEqual(aborted.sort(), ['slow1', 'slow2']);
    assert.equal(winnerSignal?.aborted, false);
    hold.open('late');
    // The losers' breakers recorded nothing against them (cancelled), the broken one a failure.
    assert.equal(pool.breaker('slow1').stats().calls, 0);
    assert.equal(pool.breaker('broken').stats().failures, 1);
  });

  test('parallel returns every answer, in the order given', async () => {
    const pool = new core.ProviderPool<Task, string>({
      providers: { a: ok('A'), b: ok('B'), c: async (t) => `C ${t.prompt}` },
    });
    const rs = await pool.executeParallel({ prompt: 'p' }, ['c', 'a', 'b']);
    assert.deepEqual(
      rs.map((r) => (r.ok ? [r.provider, r.value] : [r.provider, r.error.code])),
      [
        ['c', 'C p'],
        ['a', 'A'],
        ['b', 'B'],
      ],
    );
    // An open breaker: that provider is not called and reports circuit_open.
    pool.breaker('b').setState('forced-open');
    const again = await pool.executeParallel({ prompt: 'p' }, ['a', 'b']);
    const b = again[1]!;
    assert.ok(!b.ok && b.error instanceof core.CircuitOpenError, JSON.stringify(b));
  });

  test('cost-optimal skips the providers over the cap and calls the cheapest first', async () => {
    const calls: string[] = [];
    const mk = (name: string, cost: number | ((t: Task) => number)) => ({
      cost,
      call: async () => {
        calls.push(name);
        return name;
      },
    });
    const pool = new core.ProviderPool<Task, string>({
      providers: {
        gold: mk('gold', 1),
        silver: mk('silver', (t) => t.prompt.length * 0.01),
        bronze: mk('bronze', 0.05),
      },
    });
    // silver costs 0.10 here, over a 0.08 cap; gold too.
    const r = await pool.executeCostOptimal({ prompt: '0123456789' }, ['gold', 'silver', 'bronze'], 0.08);
    assert.equal(r.provider, 'bronze');
    assert.deepEqual(calls, ['bronze']);
    // A shorter prompt makes silver the cheapest.
    const r2 = await pool.executeCostOptimal({ prompt: '0' }, ['gold', 'silver', 'bronze'], 0.08);
    assert.equal(r2.provider, 'silver');
    assert.deepEqual(calls, ['bronze', 'silver']);
  });

  test('CircuitBreaker.onStateChange fires closed → open (and on setState)', async () => {
    const b = new core.CircuitBreaker({ name: 'watched', windowSize: 2, minimumCalls: 2, openWaitMs: 60_000 });
    const changes: core.BreakerStateChange[] = [];
    b.onStateChange((c) => changes.push(c));
    await rejection(b.execute(fail));
    await rejection(b.execute(fail));
    assert.equal(b.getState(), 'open');
    await until(() => changes.length >= 1);
    assert.deepEqual(
      [changes[0]!.breaker, changes[0]!.from, changes[0]!.to, changes[0]!.failureRate],
      ['watched', 'closed', 'open', 1],
    );
    b.setState('closed');
    await until(() => changes.length >= 2);
    assert.deepEqual([changes[1]!.from, changes[1]!.to], ['open', 'closed']);
  });

  test("aborting the caller's signal cancels the route and the provider's signal", async () => {
    let providerAborted = false;
    let started = false;
    const f = new core.ProviderFailover<Task, string>({
      providers: {
        hang: (_t, { signal }) =>
          new Promise((_, reject) => {
            started = true;
            signal.addEventListener('abort', () => {
              providerAborted = true;
              reject(new core.CancelledError('gave up'));
            });
          }),
        fallback: ok('never'),
      },
    });
    const ac = new AbortController();
    const p = f.execute({ prompt: '' }, 'hang', ['fallback'], { signal: ac.signal });
    await until(() => started);
    ac.abort();
    const e = await rejection(p);
    assert.ok(e instanceof core.CancelledError, String(e));
    assert.equal(providerAborted, true);
    assert.equal(f.breaker('hang').stats().failures, 0);
  });

  test('isRetryableError is the core classification', () => {
    assert.equal(core.isRetryableError(new core.ProviderError('503', { status: 503 })), true);
    assert.equal(core.isRetryableError(new core.ProviderError('400', { status: 400 })), false);
    assert.equal(core.isRetryableError(new core.ProviderError('x', { status: 503, should_retry: false })), false);
    assert.equal(core.isRetryableError(new core.TimeoutError('slow')), true);
    assert.equal(core.isRetryableError(new core.ContextTooLargeError('big')), false);
    assert.equal(core.isRetryableError(Object.assign(new Error('bad gateway'), { status: 502 })), true);
    assert.equal(core.isRetryableError(new core.CancelledError('aborted')), false);
  });
});
