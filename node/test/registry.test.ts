import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistry, NotFoundError, InvalidInputError, IoError, type ModelDefinition } from '@pi-builder/core';
import { repoPath, throwsCode } from './helpers';

const acme: ModelDefinition = {
  id: 'acme-chat-1',
  provider: 'acme',
  aliases: ['acme-chat'],
  contextWindow: 32768,
  maxOutputTokens: 4096,
  inputPer1m: 1,
  outputPer1m: 2,
  capabilities: ['chat', 'tools'],
  tokenizer: 'cl100k_base',
  typicalLatencyMs: 250,
};

test('getModel: by id and alias, camelCase fields, frozen', () => {
  const r = ModelRegistry.builtin();
  const m = r.getModel('gpt-4o');
  assert.equal(m.id, 'gpt-4o');
  assert.equal(m.provider, 'openai');
  assert.equal(m.contextWindow, 128000);
  assert.equal(m.inputPer1m, 2.5);
  assert.equal(m.outputPer1m, 10);
  assert.equal(m.tokenizer, 'o200k_base');
  assert.equal(m.cacheMinTokens, 1024, "the prompt-cache minimum, from the registry's data");
  assert.equal(typeof m.maxOutputTokens, 'number');
  assert.equal(typeof m.typicalLatencyMs, 'number');
  assert.ok('cachedInputPer1m' in m && 'deprecationDate' in m && Array.isArray(m.aliases));
  assert.ok(Object.isFrozen(m) && Object.isFrozen(m.capabilities));
  assert.equal(r.getModel(m.aliases[0]!).id, 'gpt-4o');
  assert.equal(r.getModel('GPT-4O').id, 'gpt-4o');
  assert.equal(r.getModel('gpt-4o'), m, 'memoized: the same object');
});

test('getModel: unknown id is not_found with suggestions', () => {
  const e = throwsCode(() => ModelRegistry.builtin().getModel('gpt-4oo'), 'not_found', NotFoundError);
  assert.ok((e.details?.suggestions as string[]).includes('gpt-4o'));
});

test('getByProvider / getByCapability', () => {
  const r = ModelRegistry.builtin();
  const anthropic = r.getByProvider('anthropic').map((m) => m.id);
  assert.ok(anthropic.includes('claude-sonnet-4-5') && !anthropic.includes('gpt-4o'));
  assert.deepEqual(r.getByProvider('nobody'), []);
  const vision = r.getByCapability('vision');
  assert.ok(vision.length > 0 && vision.every((m) => m.capabilities.includes('vision')));
  assert.deepEqual(r.getByCapability('function_calling'), r.getByCapability('tools'));
  throwsCode(() => r.getByCapability('telepathy'), 'invalid_input', InvalidInputError);
});

test('getByLatency / getByCost: filtered and sorted', () => {
  const r = ModelRegistry.builtin();
  const fast = r.getByLatency(300);
  assert.ok(fast.length > 0 && fast.every((m) => m.typicalLatencyMs <= 300));
  assert.deepEqual(fast.map((m) => m.typicalLatencyMs), fast.map((m) => m.typicalLatencyMs).sort((a, b) => a - b));
  const cheap = r.getByCost(0.001).map((m) => r.getCostPer1kTokens(m.id));
  assert.ok(cheap.length > 0 && cheap.every((c) => c <= 0.001));
  assert.deepEqual(cheap, [...cheap].sort((a, b) => a - b));
  throwsCode(() => r.getByCost(-1), 'invalid_input');
});

test('getTokenLimit / getCostPer1kTokens / supportsFeature', () => {
  const r = ModelRegistry.builtin();
  assert.equal(r.getTokenLimit('gpt-3.5-turbo'), 16385);
  assert.ok(Math.abs(r.getCostPer1kTokens('gpt-4o') - 0.00625) < 1e-12);
  assert.equal(r.supportsFeature('gpt-4o', 'vision'), true);
  assert.equal(r.supportsFeature('gpt-3.5-turbo', 'vision'), false);
  throwsCode(() => r.getTokenLimit('nope-model'), 'not_found');
  throwsCode(() => r.supportsFeature('gpt-4o', 'telepathy'), 'invalid_input');
});

test('addModel, then lookups see it; duplicates and bad fields are invalid_input', () => {
  const r = ModelRegistry.builtin();
  r.addModel(acme);
  const m = r.getModel('acme-chat');
  assert.equal(m.id, 'acme-chat-1');
  assert.deepEqual(m.capabilities, ['chat', 'tools']);
  assert.equal(m.cachedInputPer1m, null);
  assert.ok(r.getByProvider('acme').some((x) => x.id === 'acme-chat-1'));
  throwsCode(() => r.addModel(acme), 'invalid_input');
  const e = throwsCode(() => r.addModel({ ...acme, id: 'acme-2', aliases: [], contextWindow: 0 }), 'invalid_input');
  assert.equal(e.details?.field, 'contextWindow', 'the field as the JS caller spells it');
});

test('updateModel changes fields and invalidates memoized models', () => {
  const r = ModelRegistry.builtin();
  const before = r.getModel('gpt-4o-mini');
  r.updateModel('gpt-4o-mini', { typicalLatencyMs: 123, contextWindow: 99999 });
  const after = r.getModel('gpt-4o-mini');
  assert.notEqual(after, before);
  assert.equal(after.typicalLatencyMs, 123);
  assert.equal(r.getTokenLimit('gpt-4o-mini'), 99999);
  assert.equal(before.typicalLatencyMs !== 123, true, 'old objects are snapshots');
  throwsCode(() => r.updateModel('gpt-4o-mini', { id: 'other' }), 'invalid_input');
  throwsCode(() => r.updateModel('no-such-model', { typicalLatencyMs: 1 }), 'not_found');
});

test('instances: new ModelRegistry() is the shared registry; builtin() and empty() are private', () => {
  const a = new ModelRegistry();
  const b = new ModelRegistry();
  const mine = ModelRegistry.builtin();
  assert.equal(a.getModel('gpt-4o').id, 'gpt-4o');
  mine.addModel({ ...acme, id: 'private-only', aliases: [] });
  throwsCode(() => a.getModel('private-only'), 'not_found');
  a.updateModel('gpt-4.1', { typicalLatencyMs: 777 });
  assert.equal(b.getModel('gpt-4.1').typicalLatencyMs, 777, 'shared memo is invalidated too');
  const empty = ModelRegistry.empty();
  assert.equal(empty.size, 0);
  assert.deepEqual(empty.getAll(), []);
  throwsCode(() => empty.getModel('gpt-4o'), 'not_found');
});

test('loadFile and loadLiteLLM merge models; a missing file is io', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trinity-node-'));
  const file = join(dir, 'models.json');
  writeFileSync(file, JSON.stringify({ models: [{ id: 'gpt-4o', typical_latency_ms: 42 }] }));
  const r = ModelRegistry.builtin();
  const before = r.getModel('gpt-4o');
  assert.deepEqual({ ...r.loadFile(file) }, { added: 0, updated: 1, skipped: 0 });
  assert.notEqual(r.getModel('gpt-4o'), before);
  assert.equal(r.getModel('gpt-4o').typicalLatencyMs, 42);
  const report = r.loadLiteLLM(repoPath('tests', 'fixtures', 'litellm_model_prices_sample.json'));
  assert.ok(report.added + report.updated > 0);
  throwsCode(() => r.loadFile(join(dir, 'missing.json')), 'io', IoError);
});
