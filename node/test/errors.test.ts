import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as core from '@pi-builder/core';
import { nativeModule, throwsCode } from './helpers';

test('one TS class per core error kind, and no other', () => {
  const kinds = core.listErrorKinds();
  assert.equal(kinds.length, 16);
  assert.deepEqual(Object.keys(core.ERROR_CLASSES).sort(), kinds.map((k) => k.code).sort());
  for (const k of kinds) {
    const cls = core.ERROR_CLASSES[k.code];
    assert.equal(cls.name, k.className);
    // Exported under its own name, so `import { NotFoundError }` works for every kind.
    assert.equal((core as unknown as Record<string, unknown>)[k.className], cls);
    const e = new cls('m', { a: 1 });
    assert.ok(e instanceof core.TrinityError && e instanceof Error);
    assert.equal(e.code, k.code);
    assert.equal(e.name, k.className);
    assert.deepEqual(e.details, { a: 1 });
  }
});

test('error numbers are the stable ones', () => {
  const byCode = new Map(core.listErrorKinds().map((k) => [k.code, k.number]));
  assert.equal(byCode.get('invalid_input'), 100);
  assert.equal(byCode.get('not_found'), 102);
  assert.equal(byCode.get('rate_limited'), 201);
  assert.equal(byCode.get('internal'), 303);
});

test('a panic in the core reaches JS as an internal error, and the process goes on', () => {
  const native = nativeModule();
  const raw = catchRaw(() => native.panicForTest!()) as Error & { code?: string };
  assert.equal(raw.code, 'internal');
  const e = core.toTrinityError(raw);
  assert.ok(e instanceof core.InternalError);
  assert.match(e.message, /panic/);
  assert.equal(core.countTokens('still alive'), 2);
});

test('wrong argument types are invalid_input, not crashes', () => {
  const r = new core.ModelRegistry();
  const anyCore = core as unknown as Record<string, (...a: unknown[]) => unknown>;
  const anyReg = r as unknown as Record<string, (...a: unknown[]) => unknown>;
  const cases: Array<() => unknown> = [
    () => anyCore.countTokens!(42),
    () => anyCore.countTokens!(undefined),
    () => anyCore.countTokens!('x', { encoding: 5 }),
    () => anyCore.countTokensBatch!('not a list'),
    () => anyCore.countTokensBatch!([1, 2]),
    () => anyCore.countMessageTokens!('not a list', 'gpt-4o'),
    () => anyCore.parseConfig!(null),
    () => anyReg.getModel!.call(r, 7),
    () => anyReg.getByLatency!.call(r, 'fast'),
    () => anyReg.getByCost!.call(r, {}),
    () => anyReg.addModel!.call(r, 'gpt-5'),
    () => anyReg.updateModel!.call(r, 'gpt-4o', 3),
  ];
  for (const f of cases) throwsCode(f, 'invalid_input', core.InvalidInputError);
});

function catchRaw(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
}
