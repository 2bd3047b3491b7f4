// LLM client throughput from Node, side by side on one mock server (loopback): Client.chat from
// @pi-builder/core against the official `openai` npm package, 50 requests in flight. The server
// is the `trinity mock-server` binary in its own process; both clients send the same request and
// get the same answer, which is checked first. Build first: `make bench-node` (release builds).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { Client, version } from '@pi-builder/core';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONCURRENCY = 50;
const MESSAGES = [{ role: 'user', content: 'Summarise the benefits of caching LLM responses in one sentence.' }];

/** Starts `trinity mock-server --port 0` and resolves with it and its URL. */
async function startServer() {
  const binary = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'release', 'trinity');
  // stdin stays an open pipe: the server exits at its EOF, so it dies with this process.
  const proc = spawn(binary, ['mock-server', '--port', '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = await Promise.race([
    (async () => {
      for await (const l of createInterface({ input: proc.stdout })) return [l];
      return [''];
    })(),
    new Promise((_, reject) => proc.once('error', reject)),
  ]);
  if (!line.startsWith('listening on ')) {
    proc.kill();
    throw new Error(`mock server did not start: ${JSON.stringify(line)}`);
  }
  return { proc, url: line.slice('listening on '.length) };
}

/** Requests per second for `total` calls, `CONCURRENCY` in flight at a time. */
async function rate(call, total) {
  const worker = async (n) => {
    for (let i = 0; i < n; i++) await call();
  };
  const workers = (n) => Array.from({ length: CONCURRENCY }, () => worker(n));
  await Promise.all(workers(20)); // warm the connection pools and the JIT
  const started = performance.now();
  await Promise.all(workers(Math.ceil(total / CONCURRENCY)));
  const done = Math.ceil(total / CONCURRENCY) * CONCURRENCY;
  return done / ((performance.now() - started) / 1000);
}

const { proc, url } = await startServer();
try {
  const trinity = new Client({ providers: { mock: { kind: 'openai_compatible', base_url: `${url}/v1` } } });
  const sdk = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  // Distinct requests (a `user` each): identical ones in flight would share one upstream call.
  let n = 0;
  const viaTrinity = async () =>
    (await trinity.chat({ model: 'mock/mock-model', messages: MESSAGES, user: `user-${n++}` })).content;
  const viaOpenai = async () =>
    (await sdk.chat.completions.create({ model: 'mock-model', messages: MESSAGES, user: `user-${n++}` })).choices[0].message
      .content;

  const answers = new Set([await viaTrinity(), await viaOpenai()]);
  if (answers.size !== 1) throw new Error(`the clients disagree: ${[...answers].join(' | ')}`);
  const openaiVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'openai', 'package.json'), 'utf8')).version;
  console.log(`@pi-builder/core ${version} · openai ${openaiVersion} · node ${process.version}`);
  console.log(`mock server ${url} (separate process) · ${availableParallelism()} cores · ${CONCURRENCY} concurrent`);
  // Alternate the clients so neither always runs on a warmer machine.
  const ours = [];
  const theirs = [];
  for (let round = 0; round < 3; round++) {
    ours.push(await rate(viaTrinity, 20_000));
    theirs.push(await rate(viaOpenai, 4_000));
  }
  const best = (xs) => Math.max(...xs);
  const fmt = (x) => x.toFixed(0).padStart(7);
  console.log(`  Client.chat        ${fmt(best(ours))} req/s   (rounds: ${ours.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  openai (npm)       ${fmt(best(theirs))} req/s   (rounds: ${theirs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`  ratio              ${(best(ours) / best(theirs)).toFixed(1).padStart(7)}x   (target >= 3x)`);
} finally {
  proc.kill();
}
