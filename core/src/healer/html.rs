//! The one streaming pass over the page (lol_html).

use super::rules;
use super::{css, Fix, HealOptions, HealedHtml};
use crate::{Error, Result};
use lol_html::html_content::{ContentType, Element, EndTag};
use lol_html::{element, end, text, EndTagHandler, HtmlRewriter, Settings};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

const OPEN: &str = "<style data-trinity-heal>";
const RAW_TEXT: &str = "style, script, textarea, title, xmp, iframe, noembed, noframes";
const VIEWPORT: &str = r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#;

struct Pass {
    opts: HealOptions,
    /// Targeted rules of the block an earlier pass wrote: kept in the new block.
    old_targeted: Vec<String>,
    style_text: String,
    grid: Vec<css::GridDecl>,
    has_viewport: bool,
    meta_done: bool,
    style_done: bool,
    /// A raw-text element (`<style>`, `<script>`...) still open: the page ended inside it.
    open_raw: Option<String>,
    fixes: Vec<Fix>,
}

impl Pass {
    fn want_meta(&self) -> bool {
        self.opts.viewport && !self.has_viewport && !self.meta_done
    }

    /// The override block, built once every author style before it has been read; empty when
    /// there is nothing to add (the page is left as it was).
    fn block(&mut self) -> String {
        let o = rules::build(&self.opts, &self.grid, &self.old_targeted);
        self.fixes.extend(o.fixes);
        self.style_done = true;
        if o.css.is_empty() {
            return String::new();
        }
        format!("{OPEN}\n{}</style>", o.css)
    }

    fn meta(&mut self) -> &'static str {
        self.meta_done = true;
        self.fixes.push(Fix::new(
            "viewport-meta",
            "head",
            "without a viewport meta, phones lay the page out 980px wide and shrink it",
            VIEWPORT,
        ));
        VIEWPORT
    }
}

pub fn heal(html: &str, options: &HealOptions) -> Result<HealedHtml> {
    // Our earlier block is cut out by a plain search (we wrote that markup ourselves): its
    // targeted rules are kept, and a block swallowed by broken markup cannot pile up.
    let (html, old_targeted) = strip_block(html);
    let html: &str = &html;
    // End-tag handlers must be 'static, so they share the options and state through `Rc`.
    let state = Rc::new(RefCell::new(Pass {
        opts: options.clone(),
        old_targeted,
        style_text: String::new(),
        grid: Vec::new(),
        has_viewport: false,
        meta_done: false,
        style_done: false,
        open_raw: None,
        fixes: Vec::new(),
    }));
    let mut out = Vec::with_capacity(html.len() + 1024);
    {
        let (s1, s2, s3, s4, s5, s6, s7) = (
            state.clone(),
            state.clone(),
            state.clone(),
            state.clone(),
            state.clone(),
            state.clone(),
            state.clone(),
        );
        let settings = Settings {
            element_content_handlers: vec![
                element!("style[data-trinity-heal]", |el| {
                    el.remove();
                    Ok(())
                }),
                element!(RAW_TEXT, move |el| {
                    if el.can_have_content() {
                        s7.borrow_mut().open_raw = Some(el.tag_name());
                        let s = s7.clone();
                        let handler: EndTagHandler<'static> = Box::new(move |_| {
                            s.borrow_mut().open_raw = None;
                            Ok(())
                        });
                        el.on_end_tag(handler)?;
                    }
                    Ok(())
                }),
                text!("style:not([data-trinity-heal])", move |t| {
                    let mut p = s1.borrow_mut();
                    p.style_text.push_str(t.as_str());
                    if t.last_in_text_node() {
                        let text = std::mem::take(&mut p.style_text);
                        css::collect_grid(&text, &mut p.grid);
                    }
                    Ok(())
                }),
                element!("meta[name]", move |el| {
                    let name = el.get_attribute("name").unwrap_or_default();
                    if name.trim().eq_ignore_ascii_case("viewport") {
                        s2.borrow_mut().has_viewport = true;
                    }
                    Ok(())
                }),
                element!("[style]", move |el| {
                    let mut p = s3.borrow_mut();
                    if p.opts.grid {
                        inline_grid(el, &mut p.fixes);
                    }
                    Ok(())
                }),
                element!("head", move |el| {
                    let s = s4.clone();
                    let handler: EndTagHandler<'static> = Box::new(move |end: &mut EndTag<'_>| {
                        let mut p = s.borrow_mut();
                        if p.want_meta() {
                            end.before(p.meta(), ContentType::Html);
                        }
                        Ok(())
                    });
                    el.on_end_tag(handler)?;
                    Ok(())
                }),
                element!("body", move |el| {
                    {
                        let mut p = s5.borrow_mut();
                        if p.want_meta() {
                            // Before `<body>`, the parser still puts a meta into the head.
                            el.before(p.meta(), ContentType::Html);
                        }
                    }
                    let s = s5.clone();
                    if el.can_have_content() {
                        let handler: EndTagHandler<'static> =
                            Box::new(move |end: &mut EndTag<'_>| {
                                let mut p = s.borrow_mut();
                                if !p.style_done {
                                    let block = p.block();
                                    end.before(&block, ContentType::Html);
                                }
                                Ok(())
                            });
                        el.on_end_tag(handler)?;
                    }
                    Ok(())
                }),
            ],
            document_content_handlers: vec![end!(move |end| {
                let mut p = s6.borrow_mut();
                if !p.style_done {
                    // Close an unclosed `<style>`/`<script>` first, or our block would be its text.
                    let block = p.block();
                    if !block.is_empty() {
                        if let Some(tag) = p.open_raw.take() {
                            end.append(&format!("</{tag}>"), ContentType::Html);
                        }
                        end.append(&block, ContentType::Html);
                    }
                }
                Ok(())
            })],
            ..Settings::new()
        };
        let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| out.extend_from_slice(c));
        rewriter
            .write(html.as_bytes())
            .and_then(|_| rewriter.end())
            .map_err(|e| Error::internal(format!("heal_html: {e}")))?;
    }
    let mut p = state.borrow_mut();
    let input = html;
    let mut html = String::from_utf8(out).map_err(|e| Error::internal(e.to_string()))?;
    if p.want_meta() {
        // Neither <head> nor <body>: after the doctype (a meta before it would mean quirks mode).
        // The output equals the input up to there: nothing is inserted before a doctype's end.
        let at = doctype_end(input);
        html.insert_str(at, p.meta());
    }
    Ok(HealedHtml {
        html,
        fixes: std::mem::take(&mut p.fixes),
    })
}

/// A `style` attribute with `display:grid` tracks in `fr`: the healed declaration is appended
/// (the last one wins; the author's text stays as written).
fn inline_grid(el: &mut Element<'_, '_>, fixes: &mut Vec<Fix>) {
    let Some(style) = el.get_attribute("style") else {
        return;
    };
    let Some((property, healed)) = css::heal_inline_style(&style) else {
        return;
    };
    let decl = format!("{property}:{healed}");
    let sep = if style.trim_end().ends_with(';') || style.trim().is_empty() {
        ""
    } else {
        ";"
    };
    if el
        .set_attribute("style", &format!("{style}{sep}{decl}"))
        .is_ok()
    {
        let selector = match el.get_attribute("id") {
            Some(id) => format!("{}#{id}[style]", el.tag_name()),
            None => format!("{}[style]", el.tag_name()),
        };
        fixes.push(Fix::new(
            "grid-fr-minmax",
            &selector,
            "an `fr` track's minimum is its widest content, so one long word widens the grid",
            &decl,
        ));
    }
}

/// The page without our earlier blocks, and the targeted rules the last one held.
fn strip_block(html: &str) -> (Cow<'_, str>, Vec<String>) {
    if !html.contains(OPEN) {
        return (Cow::Borrowed(html), Vec::new());
    }
    let mut rest = html;
    let mut out = String::with_capacity(html.len());
    let mut targeted = Vec::new();
    while let Some(at) = rest.find(OPEN) {
        let Some(len) = rest[at..].find("</style>") else {
            break;
        };
        out.push_str(&rest[..at]);
        targeted = rules::targeted_lines(&rest[at..at + len]);
        rest = &rest[at + len + "</style>".len()..];
    }
    out.push_str(rest);
    (Cow::Owned(out), targeted)
}

fn doctype_end(html: &str) -> usize {
    let start = html.len() - html.trim_start().len();
    let head = &html[start..];
    if head.len() >= 9 && head[..9].eq_ignore_ascii_case("<!doctype") {
        head.find('>').map_or(0, |e| start + e + 1)
    } else {
        0
    }
}
