// Replays tests/fixtures/{errors,tokens,registry,config,chat,cache,healer,cost,context,guard}.json through the public Node API,
// with the same meaning for every op and expect key as core/tests/conformance.rs, and writes
// the ids that passed to target/conformance/node.json (scripts/check_conformance.py checks
// that none was skipped). Fixtures spell model fields snake_case; the JS API camelCase.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@pi-builder/core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FILES = ['errors', 'tokens', 'registry', 'config', 'chat', 'cache', 'healer', 'cost', 'context', 'guard'];

const camel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const camelKeys = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [camel(k), v]));
const snake = (key) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
// Top level only: the messages inside keep their own keys (Gemini's are camelCase).
const snakeKeys = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [snake(k), v]));
const textOf = (input) => input.text.repeat(input.repeat ?? 1);
const ids = (models) => models.map((m) => m.id);
const counting = (input) => ({ model: input.model, encoding: input.encoding });
const kinds = new Map(core.listErrorKinds().map((k) => [k.code, k]));

/**
 * A chat case: a MockServer from `server` (none when null), one provider `p` from `provider`
 * (base_url = server url + base_path, api_key 'sk-test'), then the request.
 */
async function chat(c, stream) {
  const { base_path: basePath, ...provider } = c.provider;
  const server = c.server === null ? undefined : new core.MockServer(c.server);
  try {
    if (server) Object.assign(provider, { base_url: server.url + basePath, api_key: 'sk-test' });
    const client = new core.Client({ providers: { p: provider } });
    if (!stream) {
      const r = await client.chat(c.input);
      return { content: r.content, finish_reason: r.finishReason, provider: r.provider, tool_names: r.toolCalls.map((t) => t.function.name) };
    }
    let content = '';
    let finish;
    let chunks = 0;
    for await (const chunk of client.chatStream(c.input)) {
      content += chunk.delta;
      chunks += chunk.delta ? 1 : 0;
      finish = chunk.finishReason ?? finish;
    }
    return { content, finish_reason: finish, chunks };
  } finally {
    await server?.stop();
  }
}

/** A heal case: `{text, fix_rules, idempotent}`; `<key>_hex` inputs go in as a Buffer. */
function heal(input, key) {
  const f = key === 'html' ? core.healHtml : core.healCss;
  const source = `${key}_hex` in input ? Buffer.from(input[`${key}_hex`], 'hex') : input[key];
  const out = f(source, input.options);
  const again = f(out[key], input.options);
  return { text: out[key], fix_rules: out.fixes.map((x) => x.rule), idempotent: again[key] === out[key] };
}

/**
 * A guard case: each step of `input.steps` reported to a RunGuard made from `input.config` (the
 * core's snake_case keys, which the Node API accepts as they are) until it stops the run.
 */
function guardReplay(input) {
  const guard = new core.RunGuard(input.config ?? null);
  let stopped = null;
  for (const [i, step] of (input.steps ?? []).entries()) {
    const outcome = 'error' in step.outcome ? { error: step.outcome.error } : { result: step.outcome.ok };
    try {
      guard.recordStep(step.action.name, step.action.arguments ?? null, outcome);
    } catch (e) {
      if (!(e instanceof core.GuardStoppedError)) throw e;
      const d = e.details ?? {};
      stopped = { at: i + 1, reason: d.reason ?? null, rule: d.rule ?? null, steps: d.steps ?? null };
      break;
    }
  }
  const r = guard.getPerformanceReport();
  return { stopped, steps: r.steps, failed_steps: r.failedSteps };
}

/** Runs one case's op; returns the result object, or throws the API's error. */
async function run(c, reg) {
  const { op, input } = c;
  switch (op) {
    case 'chat':
    case 'chat_stream':
      return chat(c, op === 'chat_stream');
    case 'heal_html':
      return heal(input, 'html');
    case 'heal_css':
      return heal(input, 'css');
    case 'error_kind': {
      const kind = kinds.get(input.code);
      assert.ok(kind, `unknown code ${input.code}`);
      return { number: kind.number, class: core.ERROR_CLASSES[input.code].name };
    }
    case 'count_tokens':
      return { tokens: core.countTokens(textOf(input), counting(input)) };
    case 'count_tokens_batch':
      return { counts: core.countTokensBatch(input.texts, counting(input)) };
    case 'count_message_tokens':
      return core.countMessageTokens(input.messages, input.model);
    case 'get_model':
      return { model: reg.getModel(input.name) };
    case 'token_limit':
      return { value: reg.getTokenLimit(input.name) };
    case 'cost_per_1k':
      return { value: reg.getCostPer1kTokens(input.name) };
    case 'supports_feature':
      return { value: reg.supportsFeature(input.name, input.feature) };
    case 'by_provider':
      return { models: ids(reg.getByProvider(input.provider)) };
    case 'by_capability':
      return { models: ids(reg.getByCapability(input.capability)) };
    case 'by_latency':
      return { models: ids(reg.getByLatency(input.max_ms)) };
    case 'by_cost':
      return { models: ids(reg.getByCost(input.max_per_1k)) };
    case 'add_model':
      reg.addModel(camelKeys(input.model));
      return { ok: true };
    case 'update_model':
      reg.updateModel(input.name, camelKeys(input.updates));
      return { model: reg.getModel(input.name) };
    case 'parse_config':
      return { config: core.parseConfig(input.text, { env: false }) };
    case 'cache_key': {
      const cache = new core.CacheStrategy({ namespace: input.namespace ?? 'trinity', strategy: input.strategy ?? 'content' });
      return { key: cache.keyFor(input.request, input.provider) };
    }
    case 'cost':
      return { cost: core.cost(input.model, camelKeys(input.usage)) };
    case 'prune_context':
      return snakeKeys(core.pruneContext(input.messages, input.model, camelKeys(input.options ?? {})));
    case 'prioritize_context':
      return core.prioritizeContext(input.items, { query: input.query });
    case 'warn_if_too_large': {
      const warnings = core.warnIfTooLarge(input.request, input.model);
      return { warnings: warnings.map(({ code, tokens, limit, path }) => ({ code, tokens, limit, path })) };
    }
    case 'available_context_window':
      return snakeKeys(core.getAvailableContextWindow(input.model, camelKeys(input)));
    case 'validate_conversation':
      return { violation: core.validateConversation(input.messages, input.dialect) };
    case 'guard_replay':
      return guardReplay(input);
    default:
      throw new Error(`unknown op '${op}': every runner must handle every op`);
  }
}

const dotted = (value, path) => path.split('.').reduce((v, k) => v?.[k], value);

function checkModel(got, want, what) {
  for (const [k, v] of Object.entries(want)) assert.deepEqual(got[camel(k)], v, `${what}.${k}`);
}

function check(c, reg, outcome) {
  const expect = c.expect;
  if ('error' in expect) {
    assert.ok(outcome.error, `expected error ${expect.error}, got ${JSON.stringify(outcome.value)}`);
    const e = outcome.error;
    assert.ok(e instanceof core.TrinityError, `not a TrinityError: ${e}`);
    assert.equal(e.code, expect.error, e.message);
    if ('path' in expect) assert.equal(e.details?.path, expect.path);
    if ('suggestions_include' in expect) assert.ok(e.details?.suggestions?.includes(expect.suggestions_include));
    return;
  }
  if (outcome.error) throw outcome.error;
  const got = outcome.value;
  if ('result' in expect) assert.deepStrictEqual(got, expect.result, 'result');
  const keys = ['tokens', 'counts', 'number', 'class', 'estimated', 'encoding', 'ok', 'content', 'finish_reason', 'provider', 'tool_names', 'key', 'fix_rules', 'idempotent'];
  for (const key of keys) {
    if (key in expect) assert.deepEqual(got[key], expect[key], key);
  }
  for (const want of expect.contains ?? []) assert.ok(got.text.includes(want), `no ${want}`);
  if ('value' in expect) {
    if (typeof expect.value === 'number') assert.ok(Math.abs(got.value - expect.value) < 1e-9, `value ${got.value}`);
    else assert.deepEqual(got.value, expect.value, 'value');
  }
  if (expect.model && typeof expect.model === 'object') checkModel(got.model, expect.model, 'model');
  // JS leaves absent what JSON says is null.
  for (const [k, v] of Object.entries(expect.cost ?? {})) assert.deepEqual(got.cost[camel(k)] ?? null, v, `cost.${k}`);
  for (const [path, v] of Object.entries(expect.values ?? {})) assert.deepEqual(dotted(got.config, path), v, path);
  const listed = got.models ?? [];
  for (const want of expect.includes ?? []) assert.ok(listed.includes(want), `missing ${want}`);
  for (const not of expect.excludes ?? []) assert.ok(!listed.includes(not), `has ${not}`);
  if ('min_count' in expect) assert.ok(listed.length >= expect.min_count, `only ${listed.length}`);
  if ('count' in expect) assert.equal(listed.length, expect.count, 'count');
  if ('min_chunks' in expect) assert.ok(got.chunks >= expect.min_chunks, `${got.chunks} chunks`);
  if ('sorted_by' in expect) {
    const metric = expect.sorted_by === 'blended_cost'
      ? (id) => reg.getCostPer1kTokens(id)
      : (id) => reg.getModel(id).typicalLatencyMs;
    for (let i = 1; i < listed.length; i++) {
      assert.ok(metric(listed[i - 1]) <= metric(listed[i]), `not sorted by ${expect.sorted_by}`);
    }
  }
  if (expect.then_get) checkModel(reg.getModel(expect.then_get.name), expect.then_get.model, 'then_get');
}

const passed = [];
const failed = [];
// Every runner counts with the open-model tokenizers in target/tokenizers (fetched once).
core.setTokenizerDir(join(ROOT, 'target', 'tokenizers'));
await core.fetchTokenizers();

for (const file of FILES) {
  const doc = JSON.parse(readFileSync(join(ROOT, 'tests', 'fixtures', `${file}.json`), 'utf8'));
  for (const c of doc.cases) {
    const reg = core.ModelRegistry.builtin(); // a fresh registry per case
    try {
      let outcome;
      try {
        outcome = { value: await run(c, reg) };
      } catch (error) {
        if (!(error instanceof core.TrinityError)) throw error; // a runner bug, not an outcome
        outcome = { error };
      }
      check(c, reg, outcome);
      passed.push(c.id);
    } catch (e) {
      failed.push(c.id);
      console.error(`FAIL ${c.id}: ${e.message}`);
    }
  }
}

const out = join(ROOT, 'target', 'conformance');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'node.json'), JSON.stringify({ language: 'node', passed }));
console.log(`node: ${passed.length} passed, ${failed.length} failed`);
process.exitCode = failed.length ? 1 : 0;
