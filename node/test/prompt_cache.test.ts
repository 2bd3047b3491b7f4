// Issue 15: Anthropic prompt-cache breakpoints (`cache_control`) passed from Node reach the
// provider on the blocks they were put on, OpenAI never sees them, and more than 4 are refused
// before anything is sent. Against the real mock server, which keeps what it received
// (`record_requests`, read back from `GET /_mock/requests`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { rejection } from './llm';

// JSON as the server received it.
type Body = Record<string, any>;

interface Received {
  route: string;
  body: Body;
}

/** What the server received since the last look (then forgotten). */
async function received(s: core.MockServer): Promise<Received[]> {
  const got = (await (await fetch(s.url + '/_mock/requests')).json()) as { requests: Received[] };
  await fetch(s.url + '/_mock/reset', { method: 'POST' });
  return got.requests;
}

/** The one request the server received since the last look. */
async function only(s: core.MockServer): Promise<Received> {
  const got = await received(s);
  assert.equal(got.length, 1, JSON.stringify(got));
  return got[0]!;
}

function hasCacheControl(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasCacheControl);
  if (v !== null && typeof v === 'object') {
    return 'cache_control' in v || Object.values(v).some(hasCacheControl);
  }
  return false;
}

const messages: core.ChatMessage[] = [
  { role: 'system', content: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
  { role: 'user', content: [{ type: 'text', text: 'A long document.', cache_control: { type: 'ephemeral' } }] },
  { role: 'assistant', content: 'Noted.' },
  { role: 'user', content: 'Summarise it.' },
];
const tools: core.ToolDefinition[] = [
  { type: 'function', function: { name: 'lookup' }, cache_control: { type: 'ephemeral', ttl: '1h' } },
];

function setup(): { s: core.MockServer; client: core.Client } {
  const s = new core.MockServer({ seed: 1, default_response: 'echo', record_requests: 8 });
  const p = (kind: string) => ({ kind, base_url: s.url + '/v1', api_key: 'k' });
  return { s, client: new core.Client({ providers: { a: p('anthropic'), o: p('openai') } }) };
}

describe('cache_control breakpoints', () => {
  test('reach Anthropic on their blocks; OpenAI gets the parts without them', async () => {
    const { s, client } = setup();
    try {
      const r = await client.chat({ model: 'a/claude-sonnet-4-5', messages, tools });
      assert.equal(r.content, 'Summarise it.');
      const a = await only(s);
      assert.equal(a.route, 'POST /v1/messages');
      assert.deepEqual(a.body.system, [
        { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral', ttl: '1h' } },
      ]);
      assert.deepEqual(a.body.messages[0].content, [
        { type: 'text', text: 'A long document.', cache_control: { type: 'ephemeral' } },
      ]);
      assert.deepEqual(a.body.tools[0].cache_control, { type: 'ephemeral', ttl: '1h' });
      assert.ok(!hasCacheControl(a.body.messages.slice(1)));

      await client.chat({ model: 'o/gpt-4o-mini', messages, tools });
      const o = await only(s);
      assert.equal(o.route, 'POST /v1/chat/completions');
      assert.ok(!hasCacheControl(o.body), JSON.stringify(o.body));
      assert.deepEqual(o.body.messages[1].content, [{ type: 'text', text: 'A long document.' }]);
    } finally {
      await s.stop();
    }
  });

  test('more than four are refused before anything is sent', async () => {
    const { s, client } = setup();
    try {
      const content = Array.from({ length: 5 }, (_, i) => ({
        type: 'text' as const,
        text: `part ${i}`,
        cache_control: { type: 'ephemeral' as const },
      }));
      const e = await rejection(client.chat({ model: 'a/claude-sonnet-4-5', messages: [{ role: 'user', content }] }));
      assert.ok(e instanceof core.InvalidInputError, String(e));
      assert.equal(e.code, 'invalid_input');
      assert.equal(e.details?.path, 'messages[0].content[4].cache_control');
      assert.equal(e.details?.count, 5);
      assert.deepEqual(await received(s), []);
    } finally {
      await s.stop();
    }
  });

  test("optimizeForModel's breakpoints arrive", async () => {
    const { s, client } = setup();
    try {
      const rules = Array.from({ length: 300 }, (_, i) => `Rule ${i}: answer order questions from the tools, never guess.\n`).join('');
      const layout = new core.PromptOptimizer().optimizeForModel(
        [
          { role: 'system', content: rules + 'Current date: 2026-05-01' },
          { role: 'user', content: 'Which orders shipped?' },
        ],
        'claude-sonnet-4-5',
      );
      assert.equal(layout.caching, 'breakpoints');
      assert.ok(layout.breakpoints.length > 0);
      await client.chat({ model: 'a/claude-sonnet-4-5', messages: layout.prompt as unknown as core.ChatMessage[] });
      const { body } = await only(s);
      const marked = [...body.system, ...body.messages.flatMap((m: Body) => m.content)].filter((b: Body) => 'cache_control' in b);
      assert.equal(marked.length, layout.breakpoints.length);
      layout.breakpoints.forEach((bp, i) => {
        const part = (layout.prompt[bp.message!] as Body).content[bp.block!];
        assert.deepEqual(marked[i], { type: 'text', text: part.text, cache_control: part.cache_control });
      });
    } finally {
      await s.stop();
    }
  });
});
