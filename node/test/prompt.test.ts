// PromptOptimizer from Node on the committed corpus (core/tests/fixtures/prompts/): counts that
// agree with countTokens, protected spans (numbers, URLs, quotes, fences, {{templates}}) kept,
// idempotent passes, compress at or under its target, camelCase results, typed errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as core from '@pi-builder/core';
import { repoPath, throwsCode } from './helpers';

type Prompt = string | Record<string, unknown>[];

const SLICES = ['json', 'logs', 'history', 'boilerplate', 'chat'];
const CASES: { slice: string; name: string; prompt: Prompt }[] = SLICES.flatMap((slice) => {
  const dir = repoPath('core', 'tests', 'fixtures', 'prompts', slice);
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const text = readFileSync(`${dir}/${name}`, 'utf8');
      return { slice, name, prompt: name.endsWith('.messages.json') ? (JSON.parse(text) as Prompt) : text };
    });
});
const TEXTS = CASES.filter((c): c is { slice: string; name: string; prompt: string } => typeof c.prompt === 'string');

const opt = new core.PromptOptimizer();

// The tests' own readers, not the library's.
const MARKER = /^\[same as (?:message \d+, )?lines? \d+(?:-\d+)?(?: above)?(?:, \d+ times)?\]$/;
const SPANS: Record<string, RegExp> = {
  url: /(?:https?|ftp|file):\/\/[^\s<>"'`]+/g,
  number: /\d+(?:\.\d+)?/g,
  quoted: /"(?:[^"\\\n]|\\.)*"/g,
  var: /\{\{[^}\n]*\}\}/g,
};

/** Every string of a prompt; object keys sorted (the core returns them sorted). */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.keys(o).sort().flatMap((k) => strings(o[k]));
  }
  return [];
}

/** Spans by kind, in order: whole code fences, then the rest's spans (reference lines left out). */
function spans(prompt: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = { fence: [], url: [], number: [], quoted: [], var: [] };
  for (const s of strings(prompt)) {
    const rest: string[] = [];
    let block: string[] | undefined;
    for (const line of s.split('\n')) {
      const fence = /^\s*(```|~~~)/.test(line);
      if (block) {
        block.push(line);
        if (fence) {
          out.fence!.push(block.join('\n'));
          block = undefined;
        }
      } else if (fence) block = [line];
      else if (!MARKER.test(line)) rest.push(line);
    }
    if (block) out.fence!.push(block.join('\n'));
    const text = rest.join('\n');
    for (const [kind, rx] of Object.entries(SPANS)) out[kind]!.push(...(text.match(rx) ?? []));
  }
  return out;
}

function isSubsequence(short: string[], long: string[]): boolean {
  let i = 0;
  for (const s of short) {
    while (i < long.length && long[i] !== s) i++;
    if (i++ >= long.length) return false;
  }
  return true;
}

const same = (a: string[], b: string[]) => assert.deepEqual([...new Set(a)].sort(), [...new Set(b)].sort());

test('the corpus is here, with spans and repeats to check', () => {
  assert.ok(CASES.length >= 35 && TEXTS.length >= 30, `${CASES.length} cases`);
  const all = spans(CASES.map((c) => c.prompt));
  assert.ok(all.number!.length > 1000 && all.url!.length > 20 && all.fence!.length > 3 && all.var!.length > 0);
});

test('counts are exact, never grow, and come back in camelCase', () => {
  for (const { name, prompt } of CASES) {
    const out = opt.optimizeForCost(prompt, 'gpt-4o');
    assert.ok(out.tokensAfter <= out.tokensBefore, name);
    assert.equal(out.encoding, 'o200k_base');
    assert.equal(out.goal, 'cost');
    assert.equal(typeof out.prompt, typeof prompt, name);
    assert.equal(typeof out.passes.whitespaceLines, 'number');
    assert.equal(typeof out.passes.repeatedLines, 'number');
    if (typeof prompt === 'string') {
      assert.equal(out.tokensBefore, core.countTokens(prompt), name);
      assert.equal(out.tokensAfter, core.countTokens(out.prompt as string), name);
    }
  }
});

test('protected spans come out unchanged', () => {
  let collapsed = 0;
  for (const { name, prompt } of CASES) {
    const out = opt.optimizeForCost(prompt);
    const before = spans(prompt);
    const after = spans(out.prompt);
    for (const kind of Object.keys(before)) {
      same(after[kind]!, before[kind]!);
      assert.ok(isSubsequence(after[kind]!, before[kind]!), `${name}: ${kind} order`);
      if (out.passes.repeats === 0) assert.deepEqual(after[kind], before[kind], `${name}: ${kind}`);
    }
    collapsed += out.passes.repeats;
  }
  assert.ok(collapsed > 5, `only ${collapsed} repeats`);
});

test('optimizing twice is optimizing once, for every goal, deterministically', () => {
  for (const { name, prompt } of CASES) {
    for (const f of [opt.optimizeForCost, opt.optimizeForLatency, opt.optimizeForQuality]) {
      const once = f.call(opt, prompt);
      const twice = f.call(opt, once.prompt);
      assert.deepEqual(twice.prompt, once.prompt, name);
      assert.deepEqual(twice.applied, []);
      assert.equal(twice.tokensAfter, once.tokensAfter);
      assert.deepEqual(f.call(opt, prompt), once);
    }
  }
  assert.equal(opt.optimizeForLatency('a  b').goal, 'latency');
  assert.equal(opt.optimizeForQuality('a  b').goal, 'quality');
});

test('the redundant slices save at least 15%', () => {
  let before = 0;
  let after = 0;
  for (const { slice, prompt } of CASES) {
    if (slice === 'chat') continue;
    const out = opt.optimizeForCost(prompt);
    before += out.tokensBefore;
    after += out.tokensAfter;
  }
  assert.ok(1 - after / before >= 0.15, `${before} -> ${after}`);
});

test('compress ends at or under the target and keeps what is protected', () => {
  let lossy = 0;
  let refused = 0;
  for (const { name, prompt } of TEXTS) {
    const full = opt.optimizeForCost(prompt).tokensAfter;
    for (const pct of [95, 80, 60, 30]) {
      const target = Math.floor((full * pct) / 100);
      let out: core.CompressedPrompt;
      try {
        out = opt.compress(prompt, target, 'gpt-4o');
      } catch (e) {
        assert.ok(e instanceof core.ContextTooLargeError, String(e));
        assert.ok((e.details?.min_tokens as number) > target, name);
        refused++;
        continue;
      }
      assert.ok(out.tokensAfter <= target, `${name} at ${pct}%`);
      assert.equal(out.targetTokens, target);
      assert.equal(out.tokensAfter, core.countTokens(out.text));
      const before = spans(prompt);
      const after = spans(out.text);
      for (const kind of Object.keys(before)) same(after[kind]!, before[kind]!);
      if (!out.lossless) {
        lossy++;
        assert.ok(out.dropped.length > 0 && out.dropped.every((d) => d.tokens > 0 && d.text.length > 0));
        assert.ok(out.dropped.every((d) => d.reason === 'duplicate' || d.reason === 'low_information'));
        assert.equal(opt.compress(out.text, target, 'gpt-4o').text, out.text);
      }
    }
  }
  assert.ok(lossy >= 30 && refused >= 1, `${lossy} lossy, ${refused} refused`);
});

test('optimizeForModel places Anthropic breakpoints over the registry minimum', () => {
  const rules = Array.from({ length: 150 }, (_, i) => `Rule ${i}: cite the handbook section and keep customer data private.`);
  const msgs: Record<string, unknown>[] = [{ role: 'system', content: `${rules.join('\n')}\nCurrent date: 2026-05-01` }];
  for (let i = 0; i < 30; i++) {
    msgs.push({ role: 'user', content: `Question ${i} about order ${1000 + i}?` }, { role: 'assistant', content: `Answer ${i}.` });
  }
  msgs.push({ role: 'user', content: 'And the last one?' });
  const registry = new core.ModelRegistry();
  for (const model of ['claude-opus-5', 'claude-sonnet-4-5', 'claude-haiku-4-5']) {
    const min = registry.getModel(model).cacheMinTokens!;
    const layout = opt.optimizeForModel(msgs, model);
    assert.equal(layout.caching, 'breakpoints');
    assert.equal(layout.cacheMinTokens, min);
    assert.ok(layout.breakpoints.length <= 4);
    assert.ok(layout.breakpoints.every((b) => b.prefixTokens >= min && b.message !== undefined && b.offset === undefined));
    const marked = layout.prompt.flatMap((m) => (Array.isArray(m.content) ? (m.content as Record<string, unknown>[]) : [])).filter((b) => b.cache_control);
    assert.equal(marked.length, layout.breakpoints.length);
    assert.deepEqual(layout.moved, ['Current date: 2026-05-01']);
    assert.equal(layout.reachesMinimum, layout.stablePrefixTokens >= min);
    assert.deepEqual(opt.optimizeForModel(layout.prompt, model).prompt, layout.prompt);
  }
  const openai = opt.optimizeForModel(msgs, 'gpt-4o');
  assert.equal(openai.caching, 'automatic');
  assert.deepEqual(openai.breakpoints, []);
  const text = opt.optimizeForModel('Just a question.', 'gpt-3.5-turbo');
  assert.equal(typeof text.prompt, 'string');
  assert.deepEqual([text.caching, text.cacheMinTokens, text.reachesMinimum], ['unknown', null, null]);
});

test('bad input throws the stable code', () => {
  const cases: [() => unknown, core.ErrorCode][] = [
    [() => opt.optimizeForCost(42 as never), 'invalid_input'],
    [() => opt.optimizeForCost(null as never), 'invalid_input'],
    [() => opt.optimizeForCost({ role: 'user', content: 'hi' } as never), 'invalid_input'],
    [() => opt.optimizeForLatency(['not a message'] as never), 'invalid_input'],
    [() => opt.optimizeForQuality('hi', 3 as never), 'invalid_input'],
    [() => opt.optimizeForCost('hi', 'no-such-model'), 'not_found'],
    [() => opt.optimizeForModel('hi', 'no-such-model'), 'not_found'],
    [() => opt.compress('hi', -1), 'invalid_input'],
    [() => opt.compress('hi', 2.5), 'invalid_input'],
    [() => opt.compress('hi', Number.NaN), 'invalid_input'],
    [() => opt.compress('hi', '10' as never), 'invalid_input'],
    [() => opt.compress([{ role: 'user', content: 'hi' }] as never, 10), 'invalid_input'],
    [() => opt.compress('hi', 10, 'no-such-model'), 'not_found'],
    [() => opt.compress('Order 1 2 3 4 5 6 7 8 9 at https://a.example/x', 3), 'context_too_large'],
  ];
  for (const [f, code] of cases) throwsCode(f, code);
  const e = throwsCode(() => opt.compress('Order 1 2 3 4 5 6 7 8 9 at https://a.example/x', 3), 'context_too_large', core.ContextTooLargeError);
  assert.ok((e.details?.min_tokens as number) > 3);
});
