"""The DOM walk the guardian runs in the page: page-level overflow and its causes, in one pass."""

WALK_JS = r"""
() => {
  const doc = document.documentElement;
  const root = document.scrollingElement || doc;
  const vw = doc.clientWidth;
  const body = document.body;
  const clipped = (cs) => cs.overflowX === 'hidden' || cs.overflowX === 'clip';
  const masked = clipped(getComputedStyle(doc)) || (body && clipped(getComputedStyle(body)));
  const result = {
    width: window.innerWidth, client_width: vw, scroll_width: root.scrollWidth,
    overflow: root.scrollWidth > vw + 1 && !masked, masked: false, findings: [],
  };
  const unique = (sel) => { try { return document.querySelectorAll(sel).length === 1; } catch (e) { return false; } };
  const selectorOf = (el) => {
    const parts = [];
    for (let e = el; e && e !== doc; e = e.parentElement) {
      const tag = e.tagName.toLowerCase();
      if (e.id && unique('#' + CSS.escape(e.id))) { parts.unshift('#' + CSS.escape(e.id)); break; }
      for (const c of e.classList) {
        const s = tag + '.' + CSS.escape(c);
        if (unique(s)) { parts.unshift(s); return parts.join(' > '); }
      }
      if (tag === 'body') { parts.unshift('body'); break; }
      let n = 1;
      for (let s = e.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === e.tagName) n++;
      parts.unshift(tag + ':nth-of-type(' + n + ')');
    }
    return parts.join(' > ');
  };
  const MEDIA = new Set(['IMG', 'VIDEO', 'CANVAS', 'SVG', 'IFRAME', 'EMBED', 'OBJECT', 'PICTURE']);
  const HEAD = new Set(['H1', 'H2', 'H3', 'H4', 'H5', 'H6']);
  const FORM = new Set(['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON']);
  const nowrapText = (cs) => cs.whiteSpace === 'nowrap' || cs.whiteSpace === 'pre' || cs.textWrapMode === 'nowrap';
  const shown = (e) => [...e.children].filter((c) => getComputedStyle(c).display !== 'none');
  // A row that will not wrap: a nowrap flex row of several items that each fit the screen
  // (one item too wide is a flex_child), or several inline items under white-space:nowrap.
  const nowrapRow = (e, ecs) => {
    if (!e || e === body || e === doc) return false;
    const items = shown(e);
    if (items.length < 2) return false;
    if (ecs.display.endsWith('flex') && !ecs.flexDirection.startsWith('column') && ecs.flexWrap === 'nowrap') {
      return items.every((c) => c.getBoundingClientRect().width <= vw);
    }
    return nowrapText(ecs) && !ecs.display.endsWith('grid') && !ecs.display.endsWith('flex') &&
      items.filter((c) => getComputedStyle(c).display.startsWith('inline')).length >= 2;
  };
  const px = (v) => parseFloat(v) || 0;
  const contentWidth = (cs, r) =>
    r.width - px(cs.paddingLeft) - px(cs.paddingRight) - px(cs.borderLeftWidth) - px(cs.borderRightWidth);
  const tracksTooWide = (pcs, pr) => {
    const t = pcs.gridTemplateColumns;
    if (!t || t === 'none') return false;
    const tracks = t.split(/\s+/);
    const sum = tracks.map(px).reduce((a, b) => a + b, 0) + px(pcs.columnGap) * (tracks.length - 1);
    return sum > contentWidth(pcs, pr) + 1;
  };
  const classify = (el, cs, r, parent) => {
    const tag = el.tagName.toUpperCase();
    const pcs = parent ? getComputedStyle(parent) : null;
    const pr = parent ? parent.getBoundingClientRect() : null;
    if (cs.position === 'absolute') return ['absolute_position', el];
    if (tag === 'TABLE') return ['wide_table', el];
    if (MEDIA.has(tag)) return ['wide_media', el];
    if (HEAD.has(tag)) return ['oversized_heading', el];
    if (FORM.has(tag)) return ['form_control', el];
    if (nowrapRow(parent, pcs)) return ['nowrap_row', parent];
    if (nowrapRow(el, cs) && el.scrollWidth > el.clientWidth + 1) return ['nowrap_row', el];
    if (pcs && pcs.display.endsWith('grid')) {
      return tracksTooWide(pcs, pr) ? ['cramped_grid', parent] : ['grid_child', el];
    }
    if (pcs && pcs.display.endsWith('flex') && !pcs.flexDirection.startsWith('column')) return ['flex_child', el];
    if (cs.whiteSpace === 'nowrap' || cs.whiteSpace === 'pre') return ['long_text', el];
    if (pcs && r.width > contentWidth(pcs, pr) + 1) {
      return [el.scrollWidth <= el.clientWidth + 1 ? 'fixed_width' : 'overflowing_container', el];
    }
    return ['overflowing_container', el];
  };
  const found = new Map();
  const report = (target, cause, overflow, edge, tcs) => {
    const selector = selectorOf(target);
    const key = selector + '|' + cause;
    if (found.has(key)) return;
    const f = { selector, cause, widths: [], overflow_px: Math.round(overflow), edge, masked: !!masked,
                tag: target.tagName.toLowerCase() };
    if (cause === 'oversized_heading') f.font_size_px = px(tcs.fontSize);
    found.set(key, f);
  };
  const textPastEdge = (el) => {
    const range = document.createRange();
    for (const n of el.childNodes) {
      if (n.nodeType !== Node.TEXT_NODE || !n.textContent.trim()) continue;
      range.selectNodeContents(n);
      const tr = range.getBoundingClientRect();
      if (tr.right + window.scrollX > vw + 1) return true;
    }
    return false;
  };
  const visit = (el, parentOut) => {
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.position === 'fixed') return;
    const r = el.getBoundingClientRect();
    const right = r.right + window.scrollX, left = r.left + window.scrollX;
    const pastRight = right > vw + 1, pastLeft = left < -1 && r.width > 0;
    const out = (pastRight || pastLeft) && r.width > 0;
    const parent = el.parentElement;
    // Text that sticks out of its own box (nowrap, a long word in a huge heading): no element
    // is past the edge, only the text.
    if (!out && el.scrollWidth > el.clientWidth + 1 && cs.overflowX === 'visible' && textPastEdge(el)) {
      const cause = HEAD.has(el.tagName.toUpperCase()) ? 'oversized_heading'
        : nowrapRow(el, cs) ? 'nowrap_row' : 'long_text';
      report(el, cause, r.left + el.scrollWidth - vw, 'right', cs);
    }
    // Report where overflow starts: the parent fits, or this element sticks out of the parent too.
    const pr = parent && parent.getBoundingClientRect();
    const outOfParent = pr && (right > pr.right + window.scrollX + 1 || left < pr.left + window.scrollX - 1);
    if (out && el !== body && (!parentOut || outOfParent)) {
      const [cause, target] = classify(el, cs, r, parent);
      report(target, cause, pastRight ? right - vw : -left, pastRight ? 'right' : 'left', getComputedStyle(target));
    }
    // Content of scroll containers and clipping boxes cannot scroll the page.
    if (el !== body && el !== doc && cs.overflowX !== 'visible') return;
    for (const c of el.children) visit(c, out);
  };
  if (body) for (const c of body.children) visit(c, false);
  result.findings = [...found.values()];
  // overflow-x:hidden on body/html hides the overflow instead of fixing it: reported as masked.
  // (The page still measures wider than the screen, but the user cannot scroll to the rest.)
  result.masked = !!masked && (found.size > 0 || root.scrollWidth > vw + 1);
  return result;
}
"""
