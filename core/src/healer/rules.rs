//! The rules: targeted fixes from guardian findings, scoped to the widths where the page failed,
//! and two opt-in preventive sets: a safety net that only acts on content wider than its own box,
//! and grid `fr` overrides from the author's CSS. The override block is plain CSS, one rule per
//! line, so a second pass can read it back.

use super::css::GridDecl;
use super::findings::{Cause, Edge, Finding};
use super::{Fix, HealOptions};

/// Starts the targeted section; the lines after it are kept by later passes.
pub const TARGETED_MARK: &str = "/* trinity-heal: targeted */";

/// (rule, selector, declarations, reason). `:where()` keeps specificity at zero, so any rule of
/// the author's that sets the same property wins. Each rule is a no-op where content fits:
/// media are capped at the screen width in `vw` (a `%` cap would also shrink images in
/// shrink-to-fit boxes such as flex items and table cells, whose width depends on their content);
/// `break-word` (unlike `anywhere`) leaves min-content sizes alone, and only text elements get it,
/// so a display word overflowing a decorative box is left as designed; `overflow-x:auto` only
/// scrolls a `pre` wider than its box. Nothing sets a height (an image's `height` attribute is kept).
const SAFETY_NET: [(&str, &str, &str, &str); 4] = [
    (
        "media-max-width",
        ":where(img,video,canvas)",
        "max-width:100vw",
        "media wider than the screen scroll the page",
    ),
    (
        "embed-max-width",
        ":where(iframe,embed,object)",
        "max-width:100vw",
        "embedded content wider than the screen scrolls the page",
    ),
    (
        "text-overflow-wrap",
        ":where(p,li,dd,dt,td,th,figcaption,blockquote)",
        "overflow-wrap:break-word",
        "a word or URL wider than its line breaks instead of widening the page",
    ),
    (
        "pre-scroll",
        ":where(pre)",
        "max-width:100%;overflow-x:auto",
        "preformatted text scrolls inside itself instead of scrolling the page",
    ),
];

/// The block's rules and what they fixed.
pub struct Overrides {
    pub css: String,
    pub fixes: Vec<Fix>,
}

/// Builds the override block: safety net, grid overrides, then old and new targeted rules.
/// Empty when there is nothing to add: then the page gets no block at all.
pub fn build(opts: &HealOptions, grid: &[GridDecl], old_targeted: &[String]) -> Overrides {
    let mut css = String::new();
    let mut fixes = Vec::new();
    if opts.safety_net {
        css.push_str("/* trinity-heal: safety net */\n");
        for (rule, selector, decls, reason) in SAFETY_NET {
            css.push_str(&format!("{selector}{{{decls}}}\n"));
            fixes.push(Fix::new(rule, selector, reason, decls));
        }
    }
    if opts.grid && grid.iter().any(|d| d.healed.is_some()) {
        css.push_str("/* trinity-heal: grid */\n");
        grid_overrides(grid, &mut css, &mut fixes);
    }
    let mut lines: Vec<String> = old_targeted.to_vec();
    for f in &opts.findings {
        let (line, fix) = targeted(f, &opts.widths);
        if !lines.contains(&line) {
            lines.push(line);
            fixes.push(fix);
        }
    }
    if !lines.is_empty() {
        css.push_str(TARGETED_MARK);
        css.push('\n');
    }
    for l in &lines {
        css.push_str(l);
        css.push('\n');
    }
    Overrides { css, fixes }
}

/// Every grid declaration is repeated in source order (healed where it had bare `fr`), so the
/// author's own cascade among them is kept while ours comes after all of it.
fn grid_overrides(grid: &[GridDecl], css: &mut String, fixes: &mut Vec<Fix>) {
    for d in grid {
        let value = d.healed.as_deref().unwrap_or(&d.value);
        let bang = if d.important { " !important" } else { "" };
        let decl = format!("{}:{value}{bang}", d.property);
        let mut line = format!("{}{{{decl}}}", d.selector);
        for c in d.context.iter().rev() {
            line = format!("{c}{{{line}}}");
        }
        css.push_str(&line);
        css.push('\n');
        if d.healed.is_some() {
            fixes.push(Fix::new(
                "grid-fr-minmax",
                &d.selector,
                "an `fr` track's minimum is its widest content, so one long word widens the grid",
                &decl,
            ));
        }
    }
}

/// `@media (max-width: N-1px)` where N is the next checked width that passed; unscoped when it
/// failed at the widest checked width.
fn media_for(f: &Finding, checked: &[u32]) -> Option<String> {
    let worst = *f.widths.iter().max()?;
    let next = checked.iter().copied().filter(|&w| w > worst).min()?;
    Some(format!("@media (max-width:{}px)", next - 1))
}

/// The one-line rule for a finding (declarations are `!important`: the guardian's selector may
/// be less specific than the author's, and the rule only applies where the page failed).
fn targeted(f: &Finding, checked: &[u32]) -> (String, Fix) {
    let s = f.selector.trim();
    let (rule, body, reason): (&str, String, &str) = match f.cause {
        Cause::FixedWidth => (
            "fixed-width",
            format!("{s}{{max-width:100%!important;min-width:0!important;box-sizing:border-box!important}}"),
            "a fixed width wider than the screen",
        ),
        Cause::FlexChild => (
            "flex-child-shrink",
            format!("{s}{{min-width:0!important;flex-shrink:1!important;max-width:100%!important;overflow-wrap:anywhere!important}}"),
            "a flex item's automatic minimum width is its content, so it refuses to shrink",
        ),
        Cause::GridChild => (
            "grid-child-shrink",
            format!("{s}{{min-width:0!important;max-width:100%!important;overflow-wrap:anywhere!important}}"),
            "a grid item's automatic minimum width is its content, so its track refuses to shrink",
        ),
        Cause::OverflowingContainer => (
            "container-fit",
            format!("{s}{{max-width:100%!important;min-width:0!important;box-sizing:border-box!important;overflow-wrap:anywhere!important}}"),
            "a box wider than its parent (100vw plus padding, content-box sizing)",
        ),
        Cause::AbsolutePosition => {
            let side = match f.edge {
                Edge::Right => "right:0!important;left:auto!important",
                Edge::Left => "left:0!important;right:auto!important",
            };
            (
                "absolute-inside",
                format!("{s}{{{side};max-width:100%!important;box-sizing:border-box!important}}"),
                "an absolutely positioned element past the edge of the screen",
            )
        }
        Cause::WideTable => (
            "table-scroll",
            format!("{s}{{display:block!important;max-width:100%!important;min-width:0!important;overflow-x:auto!important}}"),
            "a table wider than its container scrolls inside itself instead of the page",
        ),
        Cause::OversizedHeading => {
            // Keep the design size as the maximum, in rem so browser zoom and font settings scale it.
            let max_rem = f.font_size_px.map_or(3.0, |px| (px / 16.0 * 100.0).round() / 100.0);
            let min_rem = max_rem.min(1.5);
            (
                "heading-clamp",
                format!("{s}{{font-size:clamp({min_rem}rem,1rem + 4vw,{max_rem}rem)!important;overflow-wrap:anywhere!important}}"),
                "a heading too large for the screen",
            )
        }
        Cause::CrampedGrid => (
            "grid-reflow",
            format!("{s}{{grid-template-columns:repeat(auto-fit,minmax(min(100%,16rem),1fr))!important}}{s}>*{{min-width:0!important}}"),
            "grid tracks that cannot fit the screen; they reflow into as many columns as fit",
        ),
        Cause::LongText => (
            "text-wrap",
            format!("{s}{{white-space:normal!important;overflow-wrap:anywhere!important;min-width:0!important}}"),
            "text that will not wrap",
        ),
        Cause::WideMedia => (
            "media-fit",
            format!("{s}{{max-width:100%!important;height:auto!important}}"),
            "media wider than its container",
        ),
        Cause::FormControl => (
            "form-control-fit",
            format!("{s}{{max-width:100%!important;min-width:0!important;flex-shrink:1!important;box-sizing:border-box!important}}"),
            "a form control with a width wider than the screen; it shrinks to its container (and in a flex row, with it)",
        ),
        // Wrapping keeps every item whole and visible (a scroll container would clip drop-down
        // menus positioned inside the row); an item wider than a line still wraps its own text.
        Cause::NowrapRow => (
            "row-wrap",
            format!("{s}{{flex-wrap:wrap!important;white-space:normal!important;min-width:0!important;max-width:100%!important;box-sizing:border-box!important}}"),
            "a row of items that will not wrap (nowrap flex row or inline list); it wraps onto more lines",
        ),
    };
    let line = match media_for(f, checked) {
        Some(m) => format!("{m}{{{body}}}"),
        None => body.clone(),
    };
    (line.clone(), Fix::new(rule, s, reason, &line))
}

/// Reads back the targeted lines of an earlier block.
pub fn targeted_lines(block: &str) -> Vec<String> {
    block
        .split_once(TARGETED_MARK)
        .map(|(_, rest)| {
            rest.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
