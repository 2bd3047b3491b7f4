// Shared by the client tests: a mock server with known fixtures and a client for one of its
// wire formats, as the conformance fixtures set them up.

import { Client, MockServer, type ChatRequest, type MockServerConfig } from '@pi-builder/core';

export const FIXTURES = {
  greet: { prompt: 'Say hello', response: 'Hello from Node!' },
  chunked: { prompt: 'Count to three', response: 'one two three', chunks: ['one ', 'two ', 'three'] },
  tool: {
    prompt: 'What is the weather in Paris?',
    response: '',
    tool_calls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' } }],
  },
};

export type Kind = 'openai' | 'openai_compatible' | 'anthropic' | 'gemini';
export const KINDS: readonly Kind[] = ['openai', 'openai_compatible', 'anthropic', 'gemini'];

export function server(extra: MockServerConfig = {}): MockServer {
  return new MockServer({ fixtures: FIXTURES, seed: 1, ...extra });
}

/**
 * A client whose only provider `p` is `server` speaking `kind`. One attempt per call by default,
 * so each injected fault reaches the test as it is; pass `retry` to test the retries.
 */
export function clientFor(
  s: MockServer,
  kind: Kind = 'openai',
  provider: Record<string, unknown> = {},
  retry: Record<string, unknown> = { max_attempts: 1 },
): Client {
  const base_url = s.url + (kind === 'gemini' ? '/v1beta' : '/v1');
  return new Client({ providers: { p: { kind, base_url, api_key: 'sk-test', ...provider } }, retry });
}

export function ask(prompt: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'p/mock-model', messages: [{ role: 'user', content: prompt }], ...extra };
}

/** Awaits `p`, which must reject; returns what it rejected with. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
