// @pi-builder/core example: model registry look-ups and token counts of a sample document.
// Run from the repository after `npm run build` (or `make demo-node`): node examples/node/main.mjs
// In your own project the import is the same, after `npm i @pi-builder/core`.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ModelRegistry, NotFoundError, countTokens, countMessageTokens, version,
} from '@pi-builder/core';

const samplePath = fileURLToPath(new URL('../data/sample.md', import.meta.url));
const sample = readFileSync(samplePath, 'utf8');
const registry = new ModelRegistry();

/** Prints rows of cells as a left-aligned table with a header rule. */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  console.log();
}

console.log(`@pi-builder/core ${version}: ${registry.size} models in the registry\n`);

const picks = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-5', 'gemini-2.5-flash', 'ollama/llama3.1:8b'];
const rows = [['model', 'provider', 'context', '$/1K (blended)', 'latency ms', 'sample tokens', 'sample cost $', 'capabilities']];
for (const id of picks) {
  const m = registry.getModel(id);
  const tokens = countTokens(sample, { model: m.id });
  const cost = (tokens * m.inputPer1m) / 1e6;
  rows.push([
    m.id, m.provider, m.contextWindow.toLocaleString('en'), registry.getCostPer1kTokens(m.id).toFixed(5),
    m.typicalLatencyMs, tokens, cost.toFixed(6), m.capabilities.join(','),
  ]);
}
console.log(`Models, and what ${samplePath.split('/').slice(-2).join('/')} (${sample.length} chars) costs as input:`);
table(rows);

table([
  ['encoding', 'tokens of the sample'],
  ['cl100k_base', countTokens(sample, { encoding: 'cl100k_base' })],
  ['o200k_base', countTokens(sample, { encoding: 'o200k_base' })],
]);

console.log('Fast (<= 300 ms) models with tools:',
  registry.getByLatency(300).filter((m) => registry.supportsFeature(m.id, 'tools')).map((m) => m.id).join(', ') || 'none');
console.log('Cheapest three under $0.001 per 1K tokens:',
  registry.getByCost(0.001).slice(0, 3).map((m) => m.id).join(', '));

const chat = [
  { role: 'system', content: 'You summarize documents.' },
  { role: 'user', content: sample },
];
for (const model of ['gpt-4o', 'claude-sonnet-4-5']) {
  const c = countMessageTokens(chat, model);
  console.log(`Chat prompt for ${model}: ${c.tokens} tokens (${c.encoding}${c.estimated ? ', estimate' : ', exact'})`);
}

try {
  registry.getModel('gpt-4-o');
} catch (e) {
  if (!(e instanceof NotFoundError)) throw e;
  console.log(`\nUnknown model -> ${e.name} (code ${e.code}); suggestions: ${e.details.suggestions.join(', ')}`);
}
