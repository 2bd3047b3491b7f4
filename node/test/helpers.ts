// Shared by the tests: paths in the repository, and a way to assert a TrinityError's code.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { TrinityError, type ErrorCode } from '@pi-builder/core';

/** The repository root, found through the package itself (tests run from node/dist/test). */
export const ROOT = dirname(require.resolve('@pi-builder/core/package.json'));

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** The raw native module, for what the wrapper does not export (the panic probe). */
export function nativeModule(): Record<string, (...args: unknown[]) => unknown> {
  return require(repoPath('node', 'native', 'index.js'));
}

/** Asserts `f` throws a TrinityError of `cls` with `code`; returns it for further checks. */
export function throwsCode(f: () => unknown, code: ErrorCode, cls?: abstract new (...a: never[]) => TrinityError): TrinityError {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof TrinityError, `expected a TrinityError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (cls) assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.name}`);
    return e;
  }
  assert.fail(`expected an error with code ${code}`);
}
