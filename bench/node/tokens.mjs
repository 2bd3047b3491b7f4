// countTokens from @pi-builder/core against gpt-tokenizer (npm), same inputs, one run:
// a ~1 MiB document (cl100k_base, o200k_base) and 100,000 short strings; plus
// ModelRegistry.getModel ns/call. Build the addon in release first: `make bench-node`.
// Counts of both libraries are compared, so a speed-up can never hide a wrong answer.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { countTokens, countTokensBatch, ModelRegistry } from '@pi-builder/core';
import * as gptCl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as gptO200k from 'gpt-tokenizer/encoding/o200k_base';

const ENCODINGS = { cl100k_base: gptCl100k, o200k_base: gptO200k };
// Special-token strings are plain text for us; ask gpt-tokenizer for the same instead of a throw.
const GPT_OPTS = { disallowedSpecial: new Set() };
const MIB = 1024 * 1024;

const sample = readFileSync(fileURLToPath(new URL('../../examples/data/sample.md', import.meta.url)), 'utf8');
const MULTILINGUAL = [
  '大型语言模型的应用程序需要快速的令牌计数，尤其是在处理长文档的时候。',
  '東京は日本の首都です。カタカナとひらがなと漢字が混ざった文章も数えます。',
  'Привет, мир! Съешь же ещё этих мягких французских булок, да выпей чаю.',
  'مرحبا بالعالم، هذا اختبار للترميز على نص عربي طويل نسبيا.',
  'नमस्ते दुनिया, यह टोकन गिनती का एक परीक्षण है।',
  'Ça coûte combien ? Größe, Straße, naïve café — déjà vu. 👋🌍🚀✨ 👨‍👩‍👧‍👦',
  'fn main() { let v: Vec<u64> = (0..1_000).map(|x| x * x).collect(); println!("{:?}", v); }',
];

/** Deterministic pseudo-random numbers (LCG), so every run measures the same inputs. */
function rng(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** ~1 MiB: the sample with varied numbers, interleaved with multilingual paragraphs. */
function bigDocument() {
  const parts = [];
  let bytes = 0;
  for (let i = 0; bytes < MIB; i++) {
    const part = sample.replace(/\d+/g, (d) => String((Number(d) * (i + 7)) % 100003))
      + '\n' + MULTILINGUAL[i % MULTILINGUAL.length] + ` (section ${i})\n\n`;
    parts.push(part);
    bytes += Buffer.byteLength(part);
  }
  return parts.join('');
}

/** 100,000 short strings of 3 to 20 words drawn from the sample and the multilingual lines. */
function shortStrings(n) {
  const words = (sample + ' ' + MULTILINGUAL.join(' ')).split(/\s+/).filter(Boolean);
  const rand = rng(42);
  return Array.from({ length: n }, () => {
    const len = 3 + Math.floor(rand() * 18);
    return Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]).join(' ');
  });
}

/** Median seconds of `runs` timed calls, after one untimed warm-up; returns [seconds, result]. */
function time(runs, f) {
  let result = f();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    result = f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)], result];
}

const fmt = (x, digits = 1) => x.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rows = [];
function report(what, unit, ours, theirs) {
  rows.push([what, `${fmt(ours)} ${unit}`, theirs === undefined ? '' : `${fmt(theirs)} ${unit}`,
    theirs === undefined ? '' : `${fmt(ours / theirs, 2)}x`]);
}

const doc = bigDocument();
const docMiB = Buffer.byteLength(doc) / MIB;
const texts = shortStrings(100_000);
console.log(`node ${process.version}, ${availableParallelism()} cores; document ${fmt(docMiB, 2)} MiB, ${texts.length.toLocaleString('en')} short strings\n`);

for (const [encoding, gpt] of Object.entries(ENCODINGS)) {
  const [ourSec, ourCount] = time(5, () => countTokens(doc, { encoding }));
  const [gptSec, gptCount] = time(3, () => gpt.countTokens(doc, GPT_OPTS));
  if (ourCount !== gptCount) throw new Error(`${encoding}: counts differ on the document: ${ourCount} vs ${gptCount}`);
  report(`1 MiB document, ${encoding} (${ourCount} tokens)`, 'MiB/s', docMiB / ourSec, docMiB / gptSec);

  const [ourShortSec, ourTotal] = time(3, () => { let n = 0; for (const t of texts) n += countTokens(t, { encoding }); return n; });
  const [gptShortSec, gptTotal] = time(3, () => { let n = 0; for (const t of texts) n += gpt.countTokens(t, GPT_OPTS); return n; });
  if (ourTotal !== gptTotal) throw new Error(`${encoding}: counts differ on short strings: ${ourTotal} vs ${gptTotal}`);
  report(`100k short strings, ${encoding}, one call each`, 'ops/s', texts.length / ourShortSec, texts.length / gptShortSec);

  const [batchSec, counts] = time(3, () => countTokensBatch(texts, { encoding }));
  if (counts.reduce((a, b) => a + b, 0) !== gptTotal) throw new Error(`${encoding}: batch total differs`);
  report(`100k short strings, ${encoding}, countTokensBatch`, 'ops/s', texts.length / batchSec, texts.length / gptShortSec);
}

const registry = new ModelRegistry();
const ids = ['gpt-4o', 'claude-sonnet-4-5', 'gpt-4o-mini', 'gemini-2.5-flash'];
const CALLS = 2_000_000;
const [memoSec] = time(3, () => { let n = 0; for (let i = 0; i < CALLS; i++) n += registry.getModel(ids[i & 3]).contextWindow; return n; });
report('ModelRegistry.getModel (memoized)', 'ns/call', (memoSec / CALLS) * 1e9);
const [limitSec] = time(3, () => { let n = 0; for (let i = 0; i < 200_000; i++) n += registry.getTokenLimit(ids[i & 3]); return n; });
report('ModelRegistry.getTokenLimit (native call)', 'ns/call', (limitSec / 200_000) * 1e9);

const header = ['benchmark', '@pi-builder/core', 'gpt-tokenizer', 'ratio'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
