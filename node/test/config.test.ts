import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfig, ConfigError } from '@pi-builder/core';
import { throwsCode } from './helpers';

test('empty text gives the defaults of every section', () => {
  const c = parseConfig('', { env: false });
  for (const s of ['providers', 'models', 'cache', 'breaker', 'retry', 'rate_limits', 'queue', 'budget', 'logging', 'metrics']) {
    assert.ok(s in c, s);
  }
  assert.equal((c.retry as { max_attempts: number }).max_attempts, 3);
});

test('a bad field is a ConfigError naming its path', () => {
  const yaml = 'providers:\n  openai:\n    kind: openai\n    timeout_ms: -5\n';
  const e = throwsCode(() => parseConfig(yaml, { env: false }), 'config', ConfigError);
  assert.equal(e.details?.path, 'providers.openai.timeout_ms');
  assert.match(e.message, /providers\.openai\.timeout_ms/);
  throwsCode(() => parseConfig('[1, 2', { env: false }), 'config');
});

test('API keys are redacted in the returned config', () => {
  const c = parseConfig('{"providers": {"openai": {"kind": "openai", "api_key": "sk-secret-123"}}}', { env: false });
  assert.ok(!JSON.stringify(c).includes('sk-secret-123'));
});

test('loadConfig reads YAML files; a missing file is a config error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trinity-node-'));
  const file = join(dir, 'trinity.yaml');
  writeFileSync(file, 'retry:\n  max_attempts: 5\n');
  assert.equal((loadConfig(file, { env: false }).retry as { max_attempts: number }).max_attempts, 5);
  throwsCode(() => loadConfig(join(dir, 'missing.yaml')), 'config');
});
