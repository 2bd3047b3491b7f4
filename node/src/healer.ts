// CSS healer: pages that never scroll sideways. Synchronous native calls (a 400 KB page heals
// in a few milliseconds); the browser-based guardian is Python-only (`trinity_core.guardian`).

import * as native from '../native/index.js';
import { call } from './errors';

/** Why an element overflows, as the Python guardian reports it. */
export type OverflowCause =
  | 'fixed_width'
  | 'flex_child'
  | 'grid_child'
  | 'overflowing_container'
  | 'absolute_position'
  | 'wide_table'
  | 'oversized_heading'
  | 'cramped_grid'
  | 'long_text'
  | 'wide_media'
  | 'form_control'
  | 'nowrap_row';

/** One offending element (the JSON shape the guardian produces). */
export interface Finding {
  selector: string;
  cause: OverflowCause;
  /** Viewport widths (px) at which it overflows. */
  widths: number[];
  overflow_px?: number;
  edge?: 'right' | 'left';
  masked?: boolean;
  font_size_px?: number | null;
  tag?: string | null;
}

/** Without findings and without the opt-in rules, nothing changes: the page comes back as it was. */
export interface HealOptions {
  /** Zero-specificity safety net that only acts on content wider than its box; default false. */
  safety_net?: boolean;
  /** Add a viewport meta where missing (reported as a fix); default false. */
  viewport?: boolean;
  /** Grid tracks `Nfr` → `minmax(0,Nfr)` everywhere (can change grids that fit); default false. */
  grid?: boolean;
  /** Targeted fixes, scoped with `@media` to the widths that failed. */
  findings?: Finding[];
  /** The widths the findings were checked at; default [320, 375, 768, 1280]. */
  widths?: number[];
}

export interface Fix {
  readonly rule: string;
  readonly selector: string;
  readonly reason: string;
  /** The CSS (or markup) added. */
  readonly added: string;
}

export interface HealedHtml {
  readonly html: string;
  readonly fixes: Fix[];
}

export interface HealedCss {
  readonly css: string;
  readonly fixes: Fix[];
}

/** Heals a page (a string, or a Buffer that must be UTF-8). Idempotent. */
export function healHtml(html: string | Buffer, options?: HealOptions): HealedHtml {
  return call(() => native.healHtml(html, options)) as HealedHtml;
}

/** Heals a stylesheet: the author's CSS unchanged, then the override rules. */
export function healCss(css: string | Buffer, options?: HealOptions): HealedCss {
  return call(() => native.healCss(css, options)) as HealedCss;
}
