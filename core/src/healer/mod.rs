//! CSS healer: makes generated pages fit the screen without scrolling sideways.
//!
//! Heal only what is broken: with default options and no findings, `heal_html` returns the page
//! unchanged. Guardian findings become targeted rules scoped to the widths that failed; the
//! preventive safety net, the grid `fr` overrides and the viewport meta are opt-in.
//!
//! `heal_html` is one streaming pass (lol_html) that reads the author's `<style>` elements and
//! `style` attributes (analysed with lightningcss) and, when there is anything to add, appends
//! one override `<style data-trinity-heal>` at the end of the body (after every author rule, so
//! same-selector overrides win). The author's CSS is never re-serialized. A second pass replaces
//! the block with an identical one: healing is idempotent.

mod css;
mod findings;
mod html;
mod rules;
#[cfg(test)]
mod tests;

pub use findings::{Cause, Edge, Finding};

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Checked widths when the caller does not say (the guardian's defaults).
pub const DEFAULT_WIDTHS: [u32; 4] = [320, 375, 768, 1280];

/// What to heal. Every field is optional in JSON: `{}` heals nothing (there are no findings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealOptions {
    /// The zero-specificity safety net (media, long words, `pre`); off by default. Each rule only
    /// acts on content wider than its box.
    pub safety_net: bool,
    /// Add `<meta name="viewport" ...>` where missing (HTML only); off by default, since a
    /// desktop-only page laid out at device width can start to overflow. Reported when added.
    pub viewport: bool,
    /// Grid tracks `Nfr` → `minmax(0,Nfr)` everywhere; off by default: it also changes grids
    /// that fit (a track widened by its content gives the width back and the content overflows).
    pub grid: bool,
    /// Guardian findings, each healed by a targeted rule scoped to its failing widths.
    pub findings: Vec<Finding>,
    /// The widths the findings were checked at; a fix applies below the next width that passed.
    pub widths: Vec<u32>,
}

impl Default for HealOptions {
    fn default() -> Self {
        HealOptions {
            safety_net: false,
            viewport: false,
            grid: false,
            findings: Vec::new(),
            widths: DEFAULT_WIDTHS.to_vec(),
        }
    }
}

impl HealOptions {
    /// Parses options from JSON (`null` = defaults), naming the bad field in the error.
    pub fn from_json(value: Value) -> Result<HealOptions> {
        if value.is_null() {
            return Ok(HealOptions::default());
        }
        let opts: HealOptions = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            bad_option(&path, &e.inner().to_string())
        })?;
        opts.validate()?;
        Ok(opts)
    }

    pub fn validate(&self) -> Result<()> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(bad_option("widths", "must list viewport widths (px > 0)"));
        }
        for (i, f) in self.findings.iter().enumerate() {
            f.validate(&format!("findings[{i}]"))
                .map_err(|(path, what)| bad_option(&path, what))?;
        }
        Ok(())
    }
}

fn bad_option(path: &str, what: &str) -> Error {
    Error::invalid_input(format!("heal options: {path}: {what}"))
        .with_details(serde_json::json!({ "path": path }))
}

/// One change the healer made: which rule, on what, why, and the CSS (or markup) it added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub rule: String,
    pub selector: String,
    pub reason: String,
    pub added: String,
}

impl Fix {
    pub(crate) fn new(rule: &str, selector: &str, reason: &str, added: &str) -> Fix {
        Fix {
            rule: rule.into(),
            selector: selector.into(),
            reason: reason.into(),
            added: added.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealedHtml {
    pub html: String,
    pub fixes: Vec<Fix>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealedCss {
    pub css: String,
    pub fixes: Vec<Fix>,
}

/// Heals a page. Malformed HTML or CSS is healed as far as it parses.
pub fn heal_html(html: &str, opts: &HealOptions) -> Result<HealedHtml> {
    opts.validate()?;
    html::heal(html, opts)
}

/// Heals a stylesheet: the author's text unchanged, then `/* trinity-heal */` and the overrides.
/// An earlier override block is replaced (its targeted rules are kept).
pub fn heal_css(css: &str, opts: &HealOptions) -> Result<HealedCss> {
    opts.validate()?;
    let (author, old) = match css.rfind(CSS_MARK) {
        Some(at) => (&css[..at], &css[at + CSS_MARK.len()..]),
        None => (css, ""),
    };
    let mut grid = Vec::new();
    css::collect_grid(author, &mut grid);
    let o = rules::build(opts, &grid, &rules::targeted_lines(old));
    if o.css.is_empty() {
        return Ok(HealedCss {
            css: author.to_string(),
            fixes: o.fixes,
        });
    }
    Ok(HealedCss {
        css: format!("{author}{CSS_MARK}{}", o.css),
        fixes: o.fixes,
    })
}

/// Separates the author's stylesheet from our block in `heal_css` output.
const CSS_MARK: &str = "\n/* trinity-heal */\n";

/// Bytes from another language: anything but UTF-8 is `invalid_input`.
pub fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes)
        .map_err(|e| Error::invalid_input(format!("{what}: not valid UTF-8 ({e})")))
}

/// JSON entry points for the bindings: `{"html", "fixes"}` / `{"css", "fixes"}`.
pub fn heal_html_json(html: &[u8], options: Value) -> Result<Value> {
    let opts = HealOptions::from_json(options)?;
    let healed = heal_html(utf8(html, "html")?, &opts)?;
    serde_json::to_value(healed).map_err(|e| Error::internal(e.to_string()))
}

pub fn heal_css_json(css: &[u8], options: Value) -> Result<Value> {
    let opts = HealOptions::from_json(options)?;
    let healed = heal_css(utf8(css, "css")?, &opts)?;
    serde_json::to_value(healed).map_err(|e| Error::internal(e.to_string()))
}
