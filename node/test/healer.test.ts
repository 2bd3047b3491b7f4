import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healCss, healHtml } from '@pi-builder/core';
import { throwsCode } from './helpers';

const PAGE = '<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>';

test('healHtml: nothing changes without findings', () => {
  assert.deepEqual(healHtml(PAGE), { html: PAGE, fixes: [] });
  assert.deepEqual(healHtml(Buffer.from(PAGE)), { html: PAGE, fixes: [] });
});

test('healHtml: opt-in safety net and viewport meta, idempotent', () => {
  const opts = { safety_net: true, viewport: true };
  const once = healHtml(PAGE, opts);
  assert.ok(once.html.includes('<style data-trinity-heal>'));
  assert.ok(once.fixes.some((f) => f.rule === 'viewport-meta'));
  assert.equal(healHtml(once.html, opts).html, once.html);
  assert.equal(healHtml(Buffer.from(PAGE), opts).html, once.html);
});

test('healHtml: targeted findings are scoped to the failing widths', () => {
  const r = healHtml(PAGE, { findings: [{ selector: '.wide', cause: 'fixed_width', widths: [320] }] });
  const fix = r.fixes.find((f) => f.rule === 'fixed-width');
  assert.ok(fix?.added.startsWith('@media (max-width:374px){.wide{'));
});

test('healCss keeps the author CSS and appends overrides', () => {
  assert.equal(healCss('.g{grid-template-columns:1fr 1fr}').css, '.g{grid-template-columns:1fr 1fr}');
  const r = healCss('.g{grid-template-columns:1fr 1fr}', { grid: true });
  assert.ok(r.css.startsWith('.g{grid-template-columns:1fr 1fr}\n/* trinity-heal */\n'));
  assert.ok(r.css.includes('.g{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}'));
});

test('non-UTF-8 buffers and bad options are invalid_input', () => {
  throwsCode(() => healHtml(Buffer.from([0x3c, 0xff, 0xfe])), 'invalid_input');
  throwsCode(() => healCss('a{}', { findings: [{ selector: 'a{', cause: 'wide_table', widths: [320] }] }), 'invalid_input');
  throwsCode(() => healHtml('<p>', { grid: 'yes' as never }), 'invalid_input');
});
