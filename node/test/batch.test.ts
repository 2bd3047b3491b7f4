// Issue 16: runBatch drives the shared small batch (tests/fixtures/batch) against the real mock
// server with the results every language gets: every custom_id once and joined to its own
// answer, the summary's counts, an aborted run that leaves valid files and a resume that
// finishes exactly the rest, batchStatus agreeing, bad input naming its line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@pi-builder/core';
import { ROOT } from './helpers';

const FIXTURES = join(ROOT, 'tests/fixtures/batch');
interface Cases {
  server: core.MockServerConfig;
  slow_server: core.MockServerConfig;
  config: Record<string, unknown>;
  input: string;
  concurrency: number;
  summary: Record<string, unknown>;
  answers: Record<string, string>;
  failed: Record<string, string>;
  bad: { input: string; code: string; line: number; message_contains: string }[];
}
const CASES = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')) as Cases;
const INPUT = join(FIXTURES, CASES.input);
const IDS = readFileSync(INPUT, 'utf8')
  .trim()
  .split('\n')
  .map((l) => (JSON.parse(l) as { custom_id: string }).custom_id);

/** The summary fields of cases.json, camelCased as Node names them. */
const camel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function clientFor(s: core.MockServer): core.Client {
  return new core.Client(JSON.parse(JSON.stringify(CASES.config).replaceAll('{url}', s.url)) as Record<string, unknown>);
}

function readLines(path: string): core.BatchResult[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as core.BatchResult);
}

function checkLines(lines: readonly core.BatchResult[]): void {
  for (const l of lines) {
    const answer = CASES.answers[l.custom_id];
    if (answer !== undefined) {
      assert.equal(l.response?.body.choices[0]?.message.content, answer);
      assert.equal(l.error, null);
    } else {
      assert.equal(l.response, null);
      assert.equal(l.error?.code, CASES.failed[l.custom_id], l.custom_id);
    }
  }
}

function checkSummary(s: core.BatchSummary | undefined, overrides: Record<string, unknown> = {}): void {
  assert.ok(s);
  const got = s as unknown as Record<string, unknown>;
  for (const [k, want] of Object.entries({ ...CASES.summary, ...overrides })) {
    assert.equal(got[camel(k)] ?? null, want, k);
  }
  assert.deepEqual(s.failedRequests.map((f) => f.customId).sort(), Object.keys(CASES.failed).sort());
}

async function collect(run: core.BatchRun): Promise<core.BatchResult[]> {
  const lines: core.BatchResult[] = [];
  for await (const l of run) lines.push(l);
  return lines;
}

function withDir(f: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trinity-batch-'));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe('runBatch', () => {
  test(
    'a small batch streams every result once and reports the summary',
    withDir(async (dir) => {
      const s = new core.MockServer(CASES.server);
      try {
        const client = clientFor(s);
        const out = join(dir, 'out.jsonl');
        const run = core.runBatch(client, INPUT, out, { concurrency: CASES.concurrency });
        const notYet = run.summary;
        assert.equal(notYet, undefined);
        assert.equal(run.progress().succeeded + run.progress().failed, 0, 'not started before the first line');
        const streamed: core.BatchResult[] = [];
        for await (const l of run) {
          streamed.push(l);
          const p = run.progress();
          // Every line read is counted; the counters always add up.
          assert.ok(p.succeeded + p.failed >= streamed.length);
          assert.equal(p.skipped + p.succeeded + p.failed + p.remaining, p.total);
          assert.equal(p.total, IDS.length);
        }
        const end = run.progress();
        assert.deepEqual(
          [end.succeeded, end.failed, end.remaining, end.inFlight],
          [run.summary?.succeeded, run.summary?.failed, 0, 0],
        );
        assert.ok(Math.abs(end.costUsd - (run.summary?.costUsd ?? 0)) < 1e-12);
        assert.deepEqual(streamed.map((l) => l.custom_id).sort(), [...IDS].sort(), 'every custom_id once');
        checkLines(streamed);
        checkSummary(run.summary);
        const lines = readLines(out);
        assert.deepEqual(lines.map((l) => l.custom_id), IDS, 'the output is in input order');
        assert.deepEqual(lines, [...streamed].sort((a, b) => IDS.indexOf(a.custom_id) - IDS.indexOf(b.custom_id)));
        assert.deepEqual(readLines(join(dir, 'out.errors.jsonl')).map((l) => l.custom_id).sort(), Object.keys(CASES.failed).sort());
        const status = core.batchStatus(out);
        checkSummary(status);
        assert.ok(Math.abs(status.costUsd - (run.summary?.costUsd ?? 0)) < 1e-12);
        // A run into an output that has a journal must be resumed, not restarted.
        const again = await collect(core.runBatch(client, INPUT, out)).catch((e: unknown) => e);
        assert.ok(again instanceof core.InvalidInputError, String(again));
      } finally {
        await s.stop();
      }
    }),
  );

  test(
    'an aborted run leaves valid files and a resume finishes exactly the rest',
    withDir(async (dir) => {
      const s = new core.MockServer(CASES.slow_server);
      try {
        const client = clientFor(s);
        const out = join(dir, 'out.jsonl');
        const ac = new AbortController();
        const run = core.runBatch(client, INPUT, out, { concurrency: 2, signal: ac.signal });
        const first: core.BatchResult[] = [];
        const e = await (async () => {
          for await (const l of run) {
            first.push(l);
            if (first.length === 5) ac.abort();
          }
        })().catch((err: unknown) => err);
        assert.ok(e instanceof core.CancelledError, String(e));
        // The iteration ended once the files were valid: the summary agrees with them.
        const summary = run.summary;
        assert.ok(summary);
        assert.equal(summary.stopped, 'cancelled');
        assert.equal(summary.complete, false);
        const done = summary.succeeded + summary.failed;
        assert.ok(done >= 5 && done < 20 && summary.remaining === 20 - done, JSON.stringify(summary));
        const part = readLines(join(dir, 'out.jsonl.part'));
        assert.equal(part.length, done);
        assert.equal(new Set(part.map((l) => l.custom_id)).size, done);
        const status = core.batchStatus(out);
        assert.deepEqual([status.succeeded, status.failed, status.remaining], [summary.succeeded, summary.failed, summary.remaining]);
        // Already aborted: refused before anything starts.
        assert.throws(() => core.runBatch(client, INPUT, out, { resume: true, signal: ac.signal }), core.CancelledError);
        const again = core.runBatch(client, INPUT, out, { resume: true, concurrency: CASES.concurrency });
        const rest = await collect(again);
        const before = new Set(part.map((l) => l.custom_id));
        assert.equal(rest.length, 20 - done);
        assert.ok(rest.every((l) => !before.has(l.custom_id)), 'exactly the rest');
        checkLines(rest);
        assert.equal(again.summary?.skipped, done);
        checkSummary(again.summary, { skipped: done });
        const lines = readLines(out);
        assert.deepEqual(lines.map((l) => l.custom_id), IDS);
        checkLines(lines);
        checkSummary(core.batchStatus(out));
      } finally {
        await s.stop();
      }
    }),
  );

  test(
    'leaving the loop early stops the run with a grace period and the resume sends nothing twice',
    withDir(async (dir) => {
      const s = new core.MockServer(CASES.slow_server);
      try {
        const client = clientFor(s);
        const out = join(dir, 'out.jsonl');
        const run = core.runBatch(client, INPUT, out, { concurrency: 2, graceS: 5 });
        for await (const l of run) {
          assert.ok(l.custom_id);
          break;
        }
        assert.equal(run.summary?.stopped, 'cancelled');
        const summary = await collect(core.runBatch(client, INPUT, out, { resume: true })).then(() => core.batchStatus(out));
        checkSummary(summary);
        assert.equal(s.stats().requests, 20, 'in-flight requests finished within the grace period');
      } finally {
        await s.stop();
      }
    }),
  );

  test(
    'bad input names its line and nothing is sent',
    withDir(async (dir) => {
      const s = new core.MockServer(CASES.server);
      try {
        const client = clientFor(s);
        for (const bad of CASES.bad) {
          const e = await collect(core.runBatch(client, join(FIXTURES, bad.input), join(dir, 'bad.jsonl'))).catch((err: unknown) => err);
          assert.ok(e instanceof core.TrinityError, String(e));
          assert.equal(e.code, bad.code);
          assert.equal(e.details?.['line'], bad.line);
          assert.ok(e.message.includes(bad.message_contains), e.message);
        }
        assert.equal(s.stats().requests, 0);
        assert.throws(() => core.runBatch(client, INPUT, join(dir, 'x.jsonl'), { graceS: -1 }), core.InvalidInputError);
        assert.throws(() => core.runBatch(client, INPUT, join(dir, 'x.jsonl'), { concurrency: 0 }), core.InvalidInputError);
        assert.throws(() => core.runBatch({} as core.Client, INPUT, join(dir, 'x.jsonl')), core.InvalidInputError);
        assert.throws(() => core.batchStatus(join(dir, 'never.jsonl')), core.NotFoundError);
      } finally {
        await s.stop();
      }
    }),
  );
});
