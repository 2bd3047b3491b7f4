//! CSS analysis with lightningcss: finds grid track lists whose `fr` tracks have an `auto`
//! minimum (`1fr` = `minmax(auto, 1fr)`, which grows to the widest unbreakable content).
//! The author's CSS is only read; fixes are emitted as override rules.

use lightningcss::declaration::DeclarationBlock;
use lightningcss::rules::{CssRule, CssRuleList};
use lightningcss::stylesheet::{ParserOptions, PrinterOptions, StyleSheet};
use lightningcss::traits::ToCss;

/// One grid track declaration of the author's, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct GridDecl {
    /// Enclosing conditional rules (`@media ...`, `@supports ...`), outermost first.
    pub context: Vec<String>,
    pub selector: String,
    pub property: &'static str,
    /// The author's value, serialized by lightningcss.
    pub value: String,
    /// The value with bare `Nfr` tracks as `minmax(0,Nfr)`, when there were any.
    pub healed: Option<String>,
    pub important: bool,
}

/// Properties whose track lists we heal (columns only: rows never cause sideways scrolling).
const GRID_PROPS: [&str; 2] = ["grid-template-columns", "grid-template"];

/// Appends the grid declarations of a stylesheet to `out`. Unparsable parts are skipped.
pub fn collect_grid(css: &str, out: &mut Vec<GridDecl>) {
    // Fast path: most style sheets have no grid templates at all.
    if !css.contains("grid-template") {
        return;
    }
    let options = ParserOptions {
        error_recovery: true,
        ..ParserOptions::default()
    };
    if let Ok(sheet) = StyleSheet::parse(css, options) {
        walk(&sheet.rules, &mut Vec::new(), out);
    }
}

fn walk(rules: &CssRuleList<'_>, context: &mut Vec<String>, out: &mut Vec<GridDecl>) {
    for rule in &rules.0 {
        match rule {
            CssRule::Style(style) => {
                // Nested rules (CSS nesting) are left alone: their selectors need resolving.
                let Ok(selector) = style.selectors.to_css_string(PrinterOptions::default()) else {
                    continue;
                };
                declarations(&style.declarations, context, &selector, out);
            }
            CssRule::Media(m) => {
                if let Ok(q) = m.query.to_css_string(PrinterOptions::default()) {
                    context.push(format!("@media {q}"));
                    walk(&m.rules, context, out);
                    context.pop();
                }
            }
            CssRule::Supports(s) => {
                if let Ok(c) = s.condition.to_css_string(PrinterOptions::default()) {
                    context.push(format!("@supports {c}"));
                    walk(&s.rules, context, out);
                    context.pop();
                }
            }
            // Unlayered overrides beat every layer, so a layer adds no context.
            CssRule::LayerBlock(l) => walk(&l.rules, context, out),
            _ => {}
        }
    }
}

fn declarations(
    block: &DeclarationBlock<'_>,
    context: &[String],
    selector: &str,
    out: &mut Vec<GridDecl>,
) {
    let all = block
        .declarations
        .iter()
        .map(|p| (p, false))
        .chain(block.important_declarations.iter().map(|p| (p, true)));
    for (prop, important) in all {
        let id = prop.property_id();
        let Some(&property) = GRID_PROPS.iter().find(|n| **n == id.name()) else {
            continue;
        };
        let Ok(value) = prop.value_to_css_string(PrinterOptions::default()) else {
            continue;
        };
        if value.contains('<') {
            continue; // never let author text close our <style>
        }
        let healed = heal_track_value(property, &value);
        out.push(GridDecl {
            context: context.to_vec(),
            selector: selector.to_string(),
            property,
            value,
            healed,
            important,
        });
    }
}

/// Parses a `style` attribute and returns the healed value of its last grid declaration, if
/// that one has bare `fr` tracks (the last one wins, so a healed attribute is left as it is).
pub fn heal_inline_style(style: &str) -> Option<(&'static str, String)> {
    if !style.contains("fr") || !style.contains("grid-template") {
        return None;
    }
    // An unclosed `(` would swallow what we append (and the next pass would append again).
    if style.matches('(').count() != style.matches(')').count() {
        return None;
    }
    let block = DeclarationBlock::parse_string(
        style,
        ParserOptions {
            error_recovery: true,
            ..ParserOptions::default()
        },
    )
    .ok()?;
    let mut out = Vec::new();
    declarations(&block, &[], "", &mut out);
    // An `!important` grid declaration would beat what we append: leave the attribute alone.
    if out.iter().any(|d| d.important) {
        return None;
    }
    let last = out.pop()?;
    Some((last.property, last.healed?))
}

fn heal_track_value(property: &str, value: &str) -> Option<String> {
    if property == "grid-template" {
        // `rows / columns`: only the columns; `grid-template-areas` strings are left alone.
        if value.contains('"') || value.contains('\'') {
            return None;
        }
        let (rows, cols) = value.rsplit_once('/')?;
        return minmax_fr(cols).map(|c| format!("{}/{}", rows, c));
    }
    minmax_fr(value)
}

/// `1fr 300px repeat(2, 2fr)` → `minmax(0,1fr) 300px repeat(2, minmax(0,2fr))`; `None` when
/// every `fr` already sits in `minmax()`/`fit-content()`.
pub fn minmax_fr(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let mut out = String::with_capacity(value.len() + 16);
    let mut funcs: Vec<&str> = Vec::new();
    let (mut i, mut last, mut changed) = (0, 0, false);
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    while i < b.len() {
        let c = b[i];
        if c == b'(' {
            let start = value[..i]
                .rfind(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-'))
                .map_or(0, |p| p + 1);
            funcs.push(&value[start..i]);
            i += 1;
        } else if c == b')' {
            funcs.pop();
            i += 1;
        } else if (c.is_ascii_digit() || c == b'.') && (i == 0 || !ident(b[i - 1])) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let bare = b[i..].starts_with(b"fr")
                && b.get(i + 2).is_none_or(|&n| !ident(n))
                && !funcs.last().is_some_and(|f| {
                    f.eq_ignore_ascii_case("minmax") || f.eq_ignore_ascii_case("fit-content")
                });
            if bare {
                out.push_str(&value[last..start]);
                out.push_str("minmax(0,");
                out.push_str(&value[start..i + 2]);
                out.push(')');
                i += 2;
                last = i;
                changed = true;
            }
        } else {
            i += 1;
        }
    }
    out.push_str(&value[last..]);
    changed.then_some(out)
}
