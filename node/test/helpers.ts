// Shared by the tests: paths in the repository, and a way to assert a TrinityError's code.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { TrinityError, type ErrorCode } from '@pi-builder/core';

/** The package under test: this checkout (tests run from node/dist/test), or an installed copy. */
const PACKAGE = dirname(require.resolve('@pi-builder/core/package.json'));
/** The repository root, for test data: TRINITY_REPO when the tests run against an installed package. */
export const ROOT = process.env.TRINITY_REPO ?? PACKAGE;

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** The raw native module of the package under test, for what the wrapper does not export (the panic probe). */
export function nativeModule(): Record<string, (...args: unknown[]) => unknown> {
  return require(join(PACKAGE, 'node', 'native', 'index.js'));
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
