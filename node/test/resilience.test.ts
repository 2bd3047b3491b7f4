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
    const b = new core.CircuitBreaker({ openWaitMs: 60_000 });
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
