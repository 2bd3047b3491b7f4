//! `Finding`: one cause of horizontal overflow, as the guardian reports it (JSON shared by the
//! Python guardian's DOM walk and `heal_html(html, {"findings": [...]})`).

use serde::{Deserialize, Serialize};

/// Why an element makes the page scroll sideways. Each cause has one targeted rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A `width`/`min-width` in px (or similar) wider than its container.
    FixedWidth,
    /// A flex item that will not shrink (`min-width:auto`, `flex-shrink:0`, a large basis).
    FlexChild,
    /// A grid item that keeps its track at min-content.
    GridChild,
    /// A box wider than its parent for another reason (`100vw` plus padding, content-box sizing).
    OverflowingContainer,
    /// An absolutely positioned element past the left or right edge.
    AbsolutePosition,
    /// A table wider than its container.
    WideTable,
    /// A heading whose font size does not fit the screen.
    OversizedHeading,
    /// A grid whose tracks cannot fit (fixed px tracks, `minmax(300px, 1fr)` on a phone).
    CrampedGrid,
    /// Text that will not wrap (`white-space:nowrap`, a long word or URL).
    LongText,
    /// An image, video or embed wider than its container.
    WideMedia,
    /// A form control (`input`, `select`, `textarea`, `button`) with a width wider than the screen.
    FormControl,
    /// A row that will not wrap: a `nowrap` flex row, or inline items under `white-space:nowrap`
    /// (a navigation list), wider than the screen.
    NowrapRow,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::FixedWidth => "fixed_width",
            Cause::FlexChild => "flex_child",
            Cause::GridChild => "grid_child",
            Cause::OverflowingContainer => "overflowing_container",
            Cause::AbsolutePosition => "absolute_position",
            Cause::WideTable => "wide_table",
            Cause::OversizedHeading => "oversized_heading",
            Cause::CrampedGrid => "cramped_grid",
            Cause::LongText => "long_text",
            Cause::WideMedia => "wide_media",
            Cause::FormControl => "form_control",
            Cause::NowrapRow => "nowrap_row",
        }
    }
}

/// Which edge of the viewport the element crosses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    #[default]
    Right,
    Left,
}

/// One offending element: where, why, and at which viewport widths it overflows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// A CSS selector that matches the element (the guardian builds one from ids, classes and
    /// `:nth-of-type`).
    pub selector: String,
    pub cause: Cause,
    /// Viewport widths (px) at which this element overflows.
    pub widths: Vec<u32>,
    /// How far past the edge it reaches, in px, at the narrowest failing width.
    #[serde(default)]
    pub overflow_px: f64,
    #[serde(default)]
    pub edge: Edge,
    /// The page hid the overflow with `overflow-x:hidden` on body or html (content is cut off).
    #[serde(default)]
    pub masked: bool,
    /// Computed font size in px (headings), so the fix can keep the design size as the maximum.
    #[serde(default)]
    pub font_size_px: Option<f64>,
    /// Lower-case tag name, for reports.
    #[serde(default)]
    pub tag: Option<String>,
}

impl Finding {
    /// Rejects what could break out of the override stylesheet; `path` names the field.
    pub(crate) fn validate(&self, path: &str) -> Result<(), (String, &'static str)> {
        let s = self.selector.trim();
        if s.is_empty() {
            return Err((format!("{path}.selector"), "must not be empty"));
        }
        if s.contains(['{', '}', ';', '<']) || s.ends_with('\\') {
            return Err((
                format!("{path}.selector"),
                "must be one selector: no braces, ';', '<' or trailing backslash",
            ));
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err((
                format!("{path}.widths"),
                "must list the failing viewport widths (px > 0)",
            ));
        }
        if !self.overflow_px.is_finite()
            || self
                .font_size_px
                .is_some_and(|f| !f.is_finite() || f <= 0.0)
        {
            return Err((path.to_string(), "numbers must be finite and positive"));
        }
        Ok(())
    }
}
