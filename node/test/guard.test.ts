// RunGuard: the step limit, the time limit cancelling a hung step and a slow LLM call, loops
// found through runStep, guarded chats recorded in the report, the event log read back, and
// bad input named.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@pi-builder/core';
import { GuardStoppedError, InvalidInputError, RunGuard } from '@pi-builder/core';
import { ask, clientFor, rejection, server } from './llm';
import { throwsCode } from './helpers';

/** Asserts `e` is a GuardStoppedError for `reason`; returns its details. */
function stoppedFor(e: unknown, reason: core.StopReason): Readonly<Record<string, unknown>> {
  assert.ok(e instanceof GuardStoppedError, `expected GuardStoppedError, got ${String(e)}`);
  assert.equal(e.code, 'guard_stopped');
  assert.equal(e.details?.['reason'], reason, e.message);
  return e.details!;
}

/** Runs `f`, asserting it took less than `limitMs` (a bound well above the expected time). */
async function within<T>(limitMs: number, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    const ms = performance.now() - t0;
    assert.ok(ms < limitMs, `took ${ms.toFixed(0)} ms`);
  }
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempLog(): string {
  const dir = mkdtempSync(join(tmpdir(), 'trinity-guard-'));
  dirs.push(dir);
  return join(dir, 'run.jsonl');
}

describe('limits', () => {
  test('maxSteps refuses the next step, and the stop is sticky', () => {
    const guard = new RunGuard({ maxSteps: 3 });
    assert.match(guard.runId, /^run_[0-9a-f]{16}$/);
    assert.equal(guard.remainingMs, null);
    const before = guard.stopped;
    assert.equal(before, null);
    for (let i = 1; i <= 3; i++) assert.equal(guard.recordStep('t', { i }, { result: i }), i);
    const e = throwsCode(() => guard.recordStep('t', { i: 4 }, { result: 4 }), 'guard_stopped', GuardStoppedError);
    const d = stoppedFor(e, 'max_steps');
    assert.equal(d['limit'], 3);
    assert.equal(d['step'], 4);
    assert.equal(d['run_id'], guard.runId);
    assert.equal(guard.steps, 3);
    // Every later call answers the same stop.
    const again = throwsCode(() => guard.check(), 'guard_stopped', GuardStoppedError);
    assert.equal(again.message, e.message);
    throwsCode(() => guard.beginStep('x'), 'guard_stopped', GuardStoppedError);
    assert.ok(guard.stopped instanceof GuardStoppedError);
    assert.equal(guard.stopped.message, e.message);
    const r = guard.getPerformanceReport();
    assert.equal(r.steps, 3);
    assert.equal(r.stopped?.reason, 'max_steps');
    assert.equal(r.stopped?.details['limit'], 3);
  });

  test('maxTime aborts a hung step at the deadline and rejects at once', async () => {
    const guard = new RunGuard({ maxTimeS: 0.3 });
    const remaining = guard.remainingMs!;
    assert.ok(remaining > 0 && remaining <= 300, String(remaining));
    let seen: AbortSignal | undefined;
    // Hangs for a minute unless aborted, as a stuck network call would.
    const hang = (signal: AbortSignal) => new Promise<string>((resolve, reject) => {
      seen = signal;
      const t = setTimeout(resolve, 60_000, 'late');
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        reject(signal.reason);
      });
    });
    const e = await within(5000, () => rejection(guard.runStep('fetch', { url: 'https://example.invalid' }, hang)));
    const d = stoppedFor(e, 'max_time');
    assert.equal(d['cancelled'], true);
    assert.equal(d['step'], 1);
    assert.equal(d['action'], 'fetch');
    assert.ok(seen?.aborted, 'the signal was aborted');
    assert.equal(seen?.reason, e, 'the abort reason is the stop');
    assert.equal(guard.remainingMs, 0);
    const r = guard.getPerformanceReport();
    assert.equal(r.steps, 1);
    assert.equal(r.failedSteps, 1, 'the cancelled step is recorded as failed');
    assert.equal(r.stopped?.reason, 'max_time');
    // The run is over: the next step is refused with the same stop.
    stoppedFor(await rejection(guard.runStep('next', null, async () => 1)), 'max_time');
  });

  test('a step that ignores its signal is cut off at the deadline all the same', async () => {
    const guard = new RunGuard({ maxTimeS: 0.2 });
    // Something else keeps the process alive meanwhile, as a real agent's work would.
    const keepAlive = setInterval(() => {}, 1000);
    try {
      const e = await within(5000, () => rejection(guard.runStep('stuck', {}, () => new Promise<never>(() => {}))));
      stoppedFor(e, 'max_time');
    } finally {
      clearInterval(keepAlive);
    }
  });
});

describe('steps', () => {
  test('beginStep/finishStep by number, in any order; errors by code', () => {
    const guard = new RunGuard({ maxSteps: 10 });
    const a = guard.beginStep('read', { path: 'a' });
    const b = guard.beginStep('read', { path: 'b' });
    assert.deepEqual([a, b], [1, 2]);
    guard.finishStep(b, { result: 'B' });
    guard.finishStep(a, { error: new TypeError('bad path') });
    const c = guard.beginStep('read', { path: 'c' });
    guard.finishStep(c, { error: { code: 'not_found', message: 'no c' } });
    const r = guard.getPerformanceReport();
    assert.equal(r.steps, 3);
    assert.equal(r.failedSteps, 2);
    assert.equal(guard.steps, 3);
    assert.ok(guard.elapsedMs >= 0);
  });

  test('finishing an unknown or finished step is InvalidInputError', () => {
    const guard = new RunGuard();
    const n = guard.beginStep('ls', { dir: '/' });
    guard.finishStep(n, { result: ['a'] });
    const e = throwsCode(() => guard.finishStep(n, { result: 1 }), 'invalid_input', InvalidInputError);
    assert.equal(e.details?.['step'], n);
    throwsCode(() => guard.finishStep(99, { result: 1 }), 'invalid_input', InvalidInputError);
    throwsCode(() => guard.finishStep(1.5, { result: 1 }), 'invalid_input', InvalidInputError);
    // Bad input is not a step and does not stop the run.
    assert.equal(guard.stopped, null);
    assert.equal(guard.getPerformanceReport().steps, 1);
  });

  test('runStep returns the result and rethrows a failure, recording both', async () => {
    const guard = new RunGuard({ maxTimeS: 30 });
    assert.equal(await guard.runStep('add', { a: 1, b: 2 }, async () => 3), 3);
    const e = await rejection(guard.runStep('read', { path: 'x' }, async () => {
      throw new core.NotFoundError('no such file: x');
    }));
    assert.ok(e instanceof core.NotFoundError);
    const sync = await rejection(guard.runStep('parse', { text: '{' }, () => {
      throw new SyntaxError('bad JSON');
    }));
    assert.ok(sync instanceof SyntaxError, 'a synchronous throw rejects too');
    const r = guard.getPerformanceReport();
    assert.equal(r.steps, 3);
    assert.equal(r.failedSteps, 2);
    assert.equal(guard.stopped, null);
  });
});

describe('loops', () => {
  test('the same action with the same result, through runStep, stops the run naming the rule', async () => {
    const guard = new RunGuard();
    await guard.runStep('plan', {}, async () => 'p');
    let stop: unknown;
    for (let i = 0; i < 10 && stop === undefined; i++) {
      try {
        await guard.runStep('ls', { dir: '/' }, async () => ['a', 'b']);
      } catch (e) {
        stop = e;
      }
    }
    const d = stoppedFor(stop, 'loop_detected');
    assert.equal(d['rule'], 'same_action');
    assert.deepEqual(d['steps'], [2, 3, 4, 5, 6]);
    assert.deepEqual(d['actions'], ['ls']);
    assert.equal(guard.stopped?.details?.['rule'], 'same_action');
    assert.equal(guard.getPerformanceReport().stopped?.reason, 'loop_detected');
  });

  test('camelCase thresholds apply; the same error again and again is a loop', async () => {
    const guard = new RunGuard({ loops: { sameError: 2, sameAction: 0 } });
    const fail = async (): Promise<never> => {
      throw new core.NotFoundError('no such file');
    };
    const first = await rejection(guard.runStep('read', { path: 'a' }, fail));
    assert.ok(first instanceof core.NotFoundError, 'a failed step rethrows its error');
    const second = await rejection(guard.runStep('read', { path: 'b' }, fail));
    const d = stoppedFor(second, 'loop_detected');
    assert.equal(d['rule'], 'same_error');
    assert.deepEqual(d['steps'], [1, 2]);
    assert.equal(guard.getPerformanceReport().failedSteps, 2);
  });

  test("Node system errors count by their code: different I/O failures are not the same error", async () => {
    const guard = new RunGuard({ loops: { sameError: 2 } });
    const { readFile } = await import('node:fs/promises');
    const missing = await rejection(guard.runStep('read', { path: '/nonexistent/a' }, () => readFile('/nonexistent/a')));
    assert.equal((missing as { code?: string }).code, 'ENOENT');
    // A directory read as a file: EISDIR, another error, so no loop yet.
    const isDir = await rejection(guard.runStep('read', { path: '/' }, () => readFile('/')));
    assert.equal((isDir as { code?: string }).code, 'EISDIR');
    assert.equal(guard.stopped, null);
    const again = await rejection(guard.runStep('read', { path: '/' }, () => readFile('/')));
    assert.equal(stoppedFor(again, 'loop_detected')['rule'], 'same_error');
  });

  test('paging is not a loop', () => {
    const guard = new RunGuard();
    for (let page = 1; page <= 12; page++) guard.recordStep('list', { page }, { result: [] });
    assert.equal(guard.stopped, null);
  });
});

describe('guarded chat', () => {
  const mock = server();
  // Every answer waits 30 s before its first byte.
  const slow = server({ latency: { dist: 'fixed', ms: 30_000 } });
  after(() => Promise.all([mock.stop(), slow.stop()]));

  test('a call still running at the deadline is cancelled in the core: GuardStoppedError max_time', async () => {
    const guard = new RunGuard({ maxTimeS: 0.5 });
    const e = await within(5000, () => rejection(guard.chat(clientFor(slow), ask('Say hello'))));
    const d = stoppedFor(e, 'max_time');
    assert.equal(d['cancelled'], true);
    const r = guard.getPerformanceReport();
    assert.equal(r.llmCalls, 1);
    assert.equal(r.failedLlmCalls, 1);
    assert.equal(r.stopped?.reason, 'max_time');
    // Stopped: the next call is refused before anything is sent.
    slow.resetStats();
    stoppedFor(await rejection(guard.chat(clientFor(slow), ask('Say hello'))), 'max_time');
    assert.equal(slow.stats().requests, 0);
  });

  test('an answered call is recorded with its tokens and cost', async () => {
    const guard = new RunGuard({ maxTimeS: 60 });
    const client = clientFor(mock, 'anthropic');
    const r = await guard.chat(client, ask('Say hello', { model: 'p/claude-sonnet-4-5-20250929' }));
    assert.equal(r.content, 'Hello from Node!');
    assert.ok(r.costUsd! > 0);
    const unpriced = await guard.chat(client, ask('Say hello', { model: 'p/claude-opus-4-1-20250805' }));
    assert.equal(unpriced.costUsd, undefined);
    const report = guard.getPerformanceReport();
    assert.equal(report.llmCalls, 2);
    assert.equal(report.failedLlmCalls, 0);
    assert.equal(report.unpricedLlmCalls, 1);
    assert.equal(report.inputTokens.count, 2);
    assert.equal(report.inputTokens.total, r.usage.promptTokens + unpriced.usage.promptTokens);
    assert.equal(report.outputTokens.total, r.usage.completionTokens + unpriced.usage.completionTokens);
    assert.equal(report.tokens.max, Math.max(r.usage.totalTokens, unpriced.usage.totalTokens));
    assert.equal(report.costUsd.count, 1);
    assert.ok(Math.abs(report.costUsd.total - r.costUsd!) < 1e-9, `${report.costUsd.total} vs ${r.costUsd}`);
    assert.equal(report.llmCallDurationMs.count, 2);
    assert.ok(report.llmCallDurationMs.min! > 0);
  });

  test('an aborted signal cancels the call, recorded as failed; a bad request throws', async () => {
    const guard = new RunGuard();
    const controller = new AbortController();
    const p = guard.chat(clientFor(slow), ask('Say hello'), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const e = await within(5000, () => rejection(p));
    assert.ok(e instanceof core.CancelledError, String(e));
    assert.equal(guard.getPerformanceReport().failedLlmCalls, 1);
    assert.equal(guard.stopped, null, 'an abort is not a stop');
    const bad = await rejection(guard.chat(clientFor(mock), { model: 'p/mock-model', messages: [] }));
    assert.ok(bad instanceof InvalidInputError, String(bad));
    await assert.rejects(guard.chat({} as core.Client, ask('x')), InvalidInputError);
  });

  test('recordLlmCall takes camelCase, USD and errors', () => {
    const guard = new RunGuard();
    guard.recordLlmCall({ model: 'm', inputTokens: 100, outputTokens: 20, costUsd: 0.0015, durationMs: 200 });
    guard.recordLlmCall({ model: 'm', provider: 'openai', responseModel: 'm-1', inputTokens: 300, outputTokens: 40, durationMs: 400 });
    guard.recordLlmCall({ model: 'm', durationMs: 50, error: new core.TimeoutError('slow') });
    const r = guard.getPerformanceReport();
    assert.equal(r.llmCalls, 3);
    assert.equal(r.failedLlmCalls, 1);
    assert.equal(r.unpricedLlmCalls, 1);
    assert.equal(r.inputTokens.total, 400);
    assert.equal(r.tokens.max, 340);
    assert.equal(r.costUsd.total, 0.0015);
    assert.equal(r.llmCallDurationMs.max, 400);
    const e = throwsCode(() => guard.recordLlmCall({ model: 'm', tokens: 3 } as core.LlmCallRecord), 'invalid_input', InvalidInputError);
    assert.equal(e.details?.['path'], 'tokens');
    const neg = throwsCode(() => guard.recordLlmCall({ model: 'm', costUsd: -1 }), 'invalid_input');
    assert.equal(neg.details?.['path'], 'costUsd');
  });
});

describe('event log', () => {
  test('run_start, each step and LLM call, run_stop; read back, a torn tail dropped', () => {
    const path = tempLog();
    const guard = new RunGuard({ maxSteps: 2, eventLog: path, logArguments: true });
    guard.recordStep('search', { q: 'x', api_key: 'sk-abcdefghijklmnopqrstuvwx' }, { result: [], durationMs: 5 });
    guard.recordLlmCall({ model: 'gpt-4o-mini', inputTokens: 10, outputTokens: 5, costUsd: 0.0000025, durationMs: 30 });
    guard.recordStep('read', { path: 'a' }, { error: { code: 'not_found', message: 'no such file: a' } });
    stoppedFor(rejectionSync(() => guard.recordStep('read', { path: 'b' }, { result: '' })), 'max_steps');

    const log = core.readEventLog(path);
    assert.deepEqual(log.droppedLines, []);
    assert.equal(log.tornTail, false);
    assert.deepEqual(log.records.map((r) => r.type), ['run_start', 'step', 'llm_call', 'step', 'run_stop']);
    for (const r of log.records) {
      assert.equal(r.run_id, guard.runId);
      assert.ok(r.timestamp.endsWith('Z'));
    }
    const [start, step, llm, failed, stop] = log.records;
    assert.equal(start!['max_steps'], 2);
    assert.equal(step!['step'], 1);
    assert.equal(step!['gen_ai.tool.name'], 'search');
    assert.equal(step!['duration_ms'], 5);
    assert.equal(step!['outcome'], 'ok');
    assert.ok(!JSON.stringify(step!['gen_ai.tool.call.arguments']).includes('sk-abc'), 'arguments are scrubbed');
    assert.equal(llm!['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(llm!['gen_ai.usage.input_tokens'], 10);
    assert.equal(llm!['trinity.cost_nano_usd'], 2500);
    assert.equal(failed!['error.type'], 'not_found');
    assert.equal(stop!['reason'], 'max_steps');
    assert.equal(stop!['error.type'], 'guard_stopped');
    assert.equal(guard.getPerformanceReport().eventLog?.linesWritten, 5);

    appendFileSync(path, '{"type": "step", "torn');
    const torn = core.readEventLog(path);
    assert.equal(torn.records.length, 5);
    assert.equal(torn.tornTail, true);
    assert.deepEqual(torn.droppedLines, [6]);
    throwsCode(() => core.readEventLog(join(path, 'missing.jsonl')), 'io', core.IoError);
  });
});

/** What `f` threw. */
function rejectionSync(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('config', () => {
  test('unknown keys and bad values are InvalidInputError naming the key as given', () => {
    for (const [config, path] of [
      [{ maxStep: 3 }, 'maxStep'],
      [{ max_step: 3 }, 'max_step'],
      [{ loops: { sameEror: 2 } }, 'loops.sameEror'],
      [{ maxSteps: 0 }, 'maxSteps'],
      [{ maxTimeS: -1 }, 'maxTimeS'],
      [{ loops: { sameError: 1 } }, 'loops.sameError'],
      [{ loops: { cosmeticKeys: 'id' } }, 'loops.cosmeticKeys'],
      [{ maxSteps: 3, max_steps: 4 }, 'max_steps'],
    ] as const) {
      const e = throwsCode(() => new RunGuard(config as core.RunGuardOptions), 'invalid_input', InvalidInputError);
      assert.equal(e.details?.['path'], path, `${JSON.stringify(config)}: ${e.message}`);
      assert.ok(e.message.includes(path), e.message);
    }
  });

  test("camelCase and the core's snake_case both configure the guard", () => {
    const camel = new RunGuard({ maxSteps: 1, maxTimeS: 60, loops: { enabled: false, cosmeticKeys: ['id'] }, logArguments: false });
    const snake = new RunGuard({ max_steps: 1, max_time_s: 60, loops: { same_action: 4 } } as core.RunGuardOptions);
    for (const guard of [camel, snake]) {
      assert.ok(guard.remainingMs! > 59_000 && guard.remainingMs! <= 60_000);
      guard.recordStep('a', null);
      stoppedFor(rejectionSync(() => guard.recordStep('b', null)), 'max_steps');
    }
  });
});

describe('report', () => {
  test('count, average, min, max, p50, p95, p99 for every metric', () => {
    const guard = new RunGuard();
    for (const [i, ms] of [10, 20, 30, 40].entries()) guard.recordStep('t', { i }, { result: i, durationMs: ms });
    const r = guard.getPerformanceReport();
    assert.deepEqual(r.stepDurationMs, { count: 4, total: 100, average: 25, min: 10, max: 40, p50: 20, p95: 40, p99: 40 });
    for (const metric of [r.stepDurationMs, r.llmCallDurationMs, r.inputTokens, r.outputTokens, r.tokens, r.costUsd]) {
      assert.deepEqual(Object.keys(metric).sort(), ['average', 'count', 'max', 'min', 'p50', 'p95', 'p99', 'total']);
    }
    assert.deepEqual(r.costUsd, { count: 0, total: 0, average: null, min: null, max: null, p50: null, p95: null, p99: null });
    assert.equal(r.runId, guard.runId);
    assert.equal(r.steps, 4);
    assert.equal(r.failedSteps, 0);
    assert.equal(r.stopped, null);
    assert.equal(r.eventLog, null);
    assert.ok(r.elapsedMs >= 0);
  });
});
