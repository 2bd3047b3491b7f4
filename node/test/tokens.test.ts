import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countTokens, countTokensBatch, countMessageTokens } from '@pi-builder/core';
import { throwsCode } from './helpers';

test('countTokens: encodings, models, default o200k_base', () => {
  const text = 'Hello, world! This is trinity-core counting tokens.';
  assert.equal(countTokens(''), 0);
  assert.equal(countTokens(text), countTokens(text, { encoding: 'o200k_base' }));
  assert.equal(countTokens(text, { model: 'gpt-4o' }), countTokens(text, { encoding: 'o200k_base' }));
  assert.equal(countTokens(text, { model: 'gpt-3.5-turbo' }), countTokens(text, { encoding: 'cl100k_base' }));
  assert.equal(countTokens('<|endoftext|>', { encoding: 'cl100k_base' }) > 1, true, 'special tokens are plain text');
  throwsCode(() => countTokens('x', { encoding: 'p50k_base' as never }), 'invalid_input');
  throwsCode(() => countTokens('x', { model: 'no-such-model' }), 'not_found');
});

test('surrogate pairs count as the characters they encode', () => {
  // 🙂 is one code point (two UTF-16 units); 3000 of them is the fixture long-run-emoji.
  const smile = '\u{1F642}';
  assert.equal(smile.length, 2);
  assert.equal(countTokens(smile.repeat(3), { encoding: 'cl100k_base' }) > 0, true);
  assert.equal(countTokens('👋🌍 family: 👨‍👩‍👧‍👦', { encoding: 'o200k_base' }), countTokens('👋🌍 family: 👨‍👩‍👧‍👦'));
});

test('lone surrogates become U+FFFD, as tiktoken does', () => {
  for (const encoding of ['cl100k_base', 'o200k_base'] as const) {
    for (const [lone, replaced] of [
      ['a\uD83Db', 'a\uFFFDb'],
      ['\uDE42 tail', '\uFFFD tail'],
      ['end\uD83D', 'end\uFFFD'],
      ['\uDE42\uD83D', '\uFFFD\uFFFD'],
    ] as const) {
      assert.equal(countTokens(lone, { encoding }), countTokens(replaced, { encoding }), JSON.stringify(lone));
    }
  }
});

test('countTokensBatch equals one countTokens per text', () => {
  const texts = ['hello', '', '大型语言模型', 'a'.repeat(1000), 'x\uD800y'];
  for (const encoding of ['cl100k_base', 'o200k_base'] as const) {
    assert.deepEqual(countTokensBatch(texts, { encoding }), texts.map((t) => countTokens(t, { encoding })));
  }
  assert.deepEqual(countTokensBatch([]), []);
});

test('countMessageTokens: OpenAI overhead, exact for OpenAI, estimated otherwise', () => {
  const messages = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', name: 'alice', content: 'What is the capital of France?' },
  ];
  const r = countMessageTokens(messages, 'gpt-4o');
  assert.equal(r.encoding, 'o200k_base');
  assert.equal(r.estimated, false);
  assert.equal(r.model, 'gpt-4o');
  const content = messages.reduce((n, m) => n + countTokens(m.role) + countTokens(m.content), 0);
  // 3 per message, 1 + name for a name, 3 to prime the reply.
  assert.equal(r.tokens, content + 3 * 2 + 1 + countTokens('alice') + 3);
  assert.equal(countMessageTokens(messages, 'claude-sonnet-4-5').estimated, true);
  const e = throwsCode(() => countMessageTokens([{ role: 'user', content: 5 as never }], 'gpt-4o'), 'invalid_input');
  assert.equal(e.details?.path, 'messages[0].content');
  throwsCode(() => countMessageTokens(messages, 'no-such-model'), 'not_found');
});
