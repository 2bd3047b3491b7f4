// Context tools from Node: pruning that keeps a tool call with its results, the window less the
// answer's room, the summarize callback and its errors, the dialects' rules.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';

function history(turns: number): Record<string, unknown>[] {
  const msgs: Record<string, unknown>[] = [{ role: 'system', content: 'You are terse.' }];
  for (let i = 0; i < turns; i++) {
    msgs.push({ role: 'user', content: `question ${i} ` + 'words '.repeat(200) });
    const calls = [0, 1, 2].map((k) => ({ id: `c${i}-${k}`, type: 'function', function: { name: 'f', arguments: '{}' } }));
    msgs.push({ role: 'assistant', content: null, tool_calls: calls });
    for (const c of calls) msgs.push({ role: 'tool', tool_call_id: c.id, content: 'result '.repeat(50) });
    msgs.push({ role: 'assistant', content: `answer ${i}` });
  }
  msgs.push({ role: 'user', content: 'the latest question' });
  return msgs;
}

test('a pruned history fits, stays valid and keeps each call with its results', () => {
  const msgs = history(40);
  const p = core.pruneContext(msgs, 'gpt-4o-mini', { maxInputTokens: 3000 });
  assert.equal(p.tokensBefore, core.countMessageTokens(msgs as never, 'gpt-4o-mini').tokens);
  assert.ok(p.tokensAfter <= 3000 && p.budget === 3000 && p.dropped.length > 0 && !p.truncated);
  assert.equal(core.countMessageTokens(p.messages as never, 'gpt-4o-mini').tokens, p.tokensAfter);
  assert.equal(core.validateConversation(p.messages), null);
  assert.deepEqual(p.messages[0], msgs[0]);
  assert.deepEqual(p.messages.at(-1), msgs.at(-1));
  const calls = new Set(p.messages.flatMap((m) => ((m.tool_calls as { id: string }[] | undefined) ?? []).map((c) => c.id)));
  for (const m of p.messages) if (m.role === 'tool') assert.ok(calls.has(m.tool_call_id as string));
});

test('the window less the answer room', () => {
  const w = core.getAvailableContextWindow('gpt-4o-mini', { reserveOutputTokens: 1000 });
  assert.equal(w.available, w.contextWindow - 1000);
  assert.ok(w.exact);
});

test('summaries, the callback errors and bad input', () => {
  const msgs = history(10);
  const p = core.pruneContext(msgs, 'gpt-4o-mini', {
    maxInputTokens: 1500,
    strategy: 'summarize',
    summarize: (dropped) => `earlier: ${dropped.length} messages`,
  });
  assert.ok(p.summarized && JSON.stringify(p.messages).includes('earlier: '));
  class Mine extends Error {}
  assert.throws(
    () => core.pruneContext(msgs, 'gpt-4o-mini', { maxInputTokens: 1500, strategy: 'summarize', summarize: () => { throw new Mine('boom'); } }),
    Mine,
  );
  assert.throws(() => core.pruneContext(msgs, 'gpt-4o-mini', { maxInputTokens: 10 }), core.ContextTooLargeError);
  assert.throws(() => core.pruneContext(msgs, 'gpt-4o-mini', { strategy: 'newest' as never }), core.InvalidInputError);
  assert.throws(() => core.pruneContext([{ content: 'no role' }], 'gpt-4o-mini'), core.InvalidInputError);
});

test('the dialects rules', () => {
  const orphan = [{ role: 'user', content: 'q' }, { role: 'tool', tool_call_id: 'x', content: 'r' }];
  assert.deepEqual(core.validateConversation(orphan), { index: 1, rule: 'a tool result follows the call it answers' });
  const startsWithAssistant = [{ role: 'assistant', content: 'hi' }, { role: 'user', content: 'q' }];
  assert.equal(core.validateConversation(startsWithAssistant, 'openai'), null);
  assert.notEqual(core.validateConversation(startsWithAssistant, 'anthropic'), null);
  const p = core.pruneContext(startsWithAssistant, 'claude-sonnet-4-5', { dialect: 'anthropic' });
  assert.deepEqual(p.messages, [{ role: 'user', content: 'q' }]);
  assert.deepEqual(p.dropped, [0]);
});

test('documents and turns ordered by relevance, the most relevant first', () => {
  const docs = ['Bananas are yellow.', 'Canberra is the capital of Australia.', 'Rust has no GC.', 'Oslo is rainy.'];
  const r = core.prioritizeContext(docs, { query: 'What is the capital of Australia?' });
  assert.equal(r.items[0], docs[1]);
  assert.deepEqual(r.items, r.order.map((i) => docs[i]));
  assert.equal(r.scores[0], 0);
  assert.throws(() => core.prioritizeContext(docs), core.InvalidInputError);
  const msgs = history(3);
  msgs[msgs.length - 1] = { role: 'user', content: 'what was question 1 about?' };
  const out = core.prioritizeContext(msgs);
  assert.deepEqual(out.items[0], msgs[0]);
  assert.deepEqual(out.items.at(-1), msgs.at(-1));
  assert.equal(core.validateConversation(out.items), null);
  assert.equal(out.scores[0], null);
});

test('warnings have stable codes', () => {
  const hi = [{ role: 'user', content: 'hi' }];
  assert.deepEqual(core.warnIfTooLarge({ model: 'gpt-4o-mini', max_tokens: 100, messages: hi }), []);
  const w = core.warnIfTooLarge({ messages: hi, max_tokens: 16385 }, 'gpt-3.5-turbo');
  assert.deepEqual(w.map((x) => [x.code, x.limit, x.path]), [['over_window', 16385, null]]);
  const timestamped = {
    max_tokens: 100,
    system: [{ type: 'text', text: 'Now: 2026-12-05 10:00:00', cache_control: { type: 'ephemeral' } }],
    messages: hi,
  };
  assert.deepEqual(
    core.warnIfTooLarge(timestamped, 'claude-haiku-4-5').map((x) => x.code),
    ['under_cache_minimum', 'volatile_before_cache_breakpoint'],
  );
  assert.throws(() => core.warnIfTooLarge({ messages: [] }), core.InvalidInputError);
  assert.throws(() => core.warnIfTooLarge({ messages: [] }, 'gpt-4-omni-max'), core.NotFoundError);
});

test("seed 004's ContextManager", async () => {
  const cm = new core.ContextManager({ maxInputTokens: 3000 });
  assert.equal(cm.getAvailableContextWindow('gpt-4o-mini'), 3000);
  assert.equal(await cm.estimateTokens('hello world', 'gpt-4o-mini'), 2);
  const msgs = history(40);
  const pruned = cm.pruneContext(msgs, 'gpt-4o-mini');
  assert.deepEqual(pruned, core.pruneContext(msgs, 'gpt-4o-mini', { maxInputTokens: 3000 }).messages);
  assert.deepEqual(cm.prioritizeContext(pruned, 'gpt-4o-mini'), core.prioritizeContext(pruned).items);
  assert.deepEqual(cm.warnIfTooLarge({ messages: pruned, max_tokens: 200000 }, 'gpt-4o-mini').map((w) => w.code), ['over_window']);
  const anthropic = new core.ContextManager({ dialect: 'anthropic' });
  const leading = [{ role: 'assistant', content: 'hi' }, { role: 'user', content: 'q' }];
  assert.deepEqual(anthropic.pruneContext(leading, 'claude-haiku-4-5'), [{ role: 'user', content: 'q' }]);
});
