// @pi-builder/core example: chat and stream through the LLM client, against the package's own
// mock provider server (so it runs offline). Run from the repository after `npm run build`
// (or `make demo-node`): node examples/node/chat.mjs
// With a real provider, configure it instead: new Client({ providers: { openai: { kind: 'openai' } } })
// reads OPENAI_API_KEY from the environment.

import { Client, MockServer, RateLimitedError } from '@pi-builder/core';

const server = new MockServer({
  fixtures: {
    haiku: {
      prompt: 'Write a haiku about Rust',
      response: 'Borrowed, never lost; / the compiler keeps its word; / threads run without fear.',
    },
  },
  faults: { script: ['ok', 'ok', '429', 'ok', '429'], retry_after_ms: 300 },
});

try {
  // The mock speaks OpenAI's wire format under /v1 (Anthropic's too; Gemini's under /v1beta).
  // `gpt-4o-mini` is a registry model, so the response carries its price.
  const client = new Client({
    providers: { openai: { kind: 'openai', base_url: `${server.url}/v1`, api_key: 'sk-demo' } },
  });
  const request = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a poet.' },
      { role: 'user', content: 'Write a haiku about Rust' },
    ],
    max_tokens: 60, // request fields are OpenAI's, snake_case
  };

  const r = await client.chat(request);
  console.log(`chat (${r.provider}/${r.model}, ${r.latencyMs.toFixed(1)} ms):\n  ${r.content}`);
  console.log(`  usage: ${r.usage.promptTokens} prompt + ${r.usage.completionTokens} completion = ${r.usage.totalTokens} tokens`);
  console.log(`  cost: $${r.costUsd?.toFixed(8) ?? 'unknown'}, finish: ${r.finishReason}\n`);

  process.stdout.write('stream:\n  ');
  for await (const chunk of client.chatStream(request)) {
    process.stdout.write(chunk.delta);
    if (chunk.usage) process.stdout.write(`\n  (${chunk.usage.completionTokens} completion tokens)`);
  }
  console.log('\n');

  // The server's third answer is a 429: retried after its Retry-After (config section `retry`).
  const retried = await client.chat(request);
  console.log(`429 then an answer: ${retried.attempts} attempts in ${retried.latencyMs.toFixed(0)} ms`);

  // Without retries the error keeps the status and the Retry-After.
  const once = new Client({
    providers: { openai: { kind: 'openai', base_url: `${server.url}/v1`, api_key: 'sk-demo' } },
    retry: { max_attempts: 1 },
  });
  try {
    await once.chat(request);
  } catch (e) {
    if (!(e instanceof RateLimitedError)) throw e;
    console.log(`rate limited -> ${e.name} (code ${e.code}), retry after ${e.details.retry_after_ms} ms`);
  }

  // Cancelling: an AbortSignal rejects the call with CancelledError and closes its request.
  try {
    await client.chat(request, { signal: AbortSignal.abort() });
  } catch (e) {
    console.log(`aborted -> ${e.name} (code ${e.code})`);
  }
  console.log(`\nthe mock server served ${server.stats().requests} requests`);
} finally {
  await server.stop();
}
