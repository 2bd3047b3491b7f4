// Issue 15: the client prunes a conversation over its model's window before sending it
// (`context.auto_prune`, in the config or per request), against the real mock server, whose
// usage counts the prompt it received.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { rejection } from './llm';

const BUDGET = 128_000 - 16_384; // gpt-4o-mini: window less its max output

function conversation(turns: number): core.ChatMessage[] {
  const text = (n: number) => Array.from({ length: 1_000 }, (_, i) => `t${n}w${i}`).join(' ');
  const messages: core.ChatMessage[] = [{ role: 'system', content: 'You answer from the history.' }];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: 'user', content: text(2 * t) }, { role: 'assistant', content: text(2 * t + 1) });
  }
  messages.push({ role: 'user', content: 'What was said first?' });
  return messages;
}

describe('context.auto_prune', () => {
  test('a conversation over the window is pruned to fit only when asked', async () => {
    const s = new core.MockServer({ seed: 1, default_response: 'echo' });
    try {
      const client = new core.Client({
        providers: { p: { kind: 'openai', base_url: s.url + '/v1', api_key: 'k' } },
        context: { auto_prune: true },
      });
      const messages = conversation(80);
      const full = await client.chat({ model: 'p/gpt-4o-mini', messages, context: { auto_prune: false } });
      assert.ok(full.usage.promptTokens > 128_000);
      const r = await client.chat({ model: 'p/gpt-4o-mini', messages });
      assert.equal(r.content, 'What was said first?');
      assert.ok(r.usage.promptTokens <= BUDGET && r.usage.promptTokens > BUDGET - 10_000, String(r.usage.promptTokens));
      const capped = await client.chat({ model: 'p/gpt-4o-mini', messages, context: { max_input_tokens: 10_000 } });
      assert.ok(capped.usage.promptTokens <= 10_000);
      const huge = Array.from({ length: 70_000 }, (_, i) => `r${i}`).join(' ');
      const before = s.stats().requests;
      const e = await rejection(
        client.chat({ model: 'p/gpt-4o-mini', messages: [{ role: 'system', content: huge }, { role: 'user', content: 'hi' }] }),
      );
      assert.ok(e instanceof core.ContextTooLargeError, String(e));
      assert.equal(s.stats().requests, before, 'refused before anything was sent');
    } finally {
      await s.stop();
    }
  });
});
