//! Protected spans: text no pass may change a byte of. Code fences are found line by line
//! (CommonMark's rules, loosely: any indentation, ``` or ~~~, closed by a run at least as
//! long); inside the other lines, inline code, template variables, URLs, quoted strings and
//! numbers. Spans are found generously: protecting too much only costs a missed saving.

use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// Inline spans. Leftmost-first alternation, so a quoted string that holds a URL or a number
/// is one span. Single quotes are not quotes here: in prose they are apostrophes.
static INLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"`[^`\n]+`",
        r#"|\{\{[^\n]*?\}\}|\{%[^\n]*?%\}"#,
        r#"|\b(?:https?|ftp|file)://[^\s<>"'`]+|\bwww\.[^\s<>"'`]+"#,
        r#"|"(?:[^"\\\n]|\\.)*"|“[^”\n]*”"#,
        r"|\d+(?:[.,:]\d+)*",
    ))
    .expect("valid regex")
});

/// Byte ranges of the inline protected spans of `text` (fences aside), in order.
pub fn inline_spans(text: &str) -> Vec<Range<usize>> {
    INLINE.find_iter(text).map(|m| m.range()).collect()
}

/// True when `text` holds a protected span.
pub fn has_span(text: &str) -> bool {
    INLINE.is_match(text)
}

/// The fence a line opens, if it opens one: its character and run length.
fn fence_open(line: &str) -> Option<(u8, usize)> {
    let t = line.trim_start_matches([' ', '\t']);
    let c = *t.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let run = t.bytes().take_while(|&b| b == c).count();
    // A backtick fence's info string has no backticks (else it is inline code).
    (run >= 3 && !(c == b'`' && t[run..].contains('`'))).then_some((c, run))
}

fn fence_close(line: &str, (c, len): (u8, usize)) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    let run = t.bytes().take_while(|&b| b == c).count();
    run >= len && t[run..].trim().is_empty()
}

/// For each line of `lines`, whether it belongs to a code fence (opening and closing lines
/// included). A fence never closed runs to the end.
pub fn fence_lines<S: AsRef<str>>(lines: &[S]) -> Vec<bool> {
    let mut out = vec![false; lines.len()];
    let mut open = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.as_ref();
        match open {
            Some(f) => {
                out[i] = true;
                if fence_close(line, f) {
                    open = None;
                }
            }
            None => {
                if let Some(f) = fence_open(line) {
                    out[i] = true;
                    open = Some(f);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(t: &str) -> Vec<&str> {
        inline_spans(t).into_iter().map(|r| &t[r]).collect()
    }

    #[test]
    fn finds_each_kind_and_keeps_outer_spans_whole() {
        assert_eq!(
            spans(r#"Use `a  b` with {{ user }} at https://x.io/a?b=1, "say \"hi\" 2" and 3.5"#),
            [
                "`a  b`",
                "{{ user }}",
                "https://x.io/a?b=1,",
                r#""say \"hi\" 2""#,
                "3.5"
            ]
        );
        assert!(!has_span("don't stop"));
    }

    #[test]
    fn fences_open_close_and_run_to_the_end_when_unclosed() {
        let lines = ["a", "```rust", "x", "```", "b", "  ~~~~", "~~~", "y"];
        assert_eq!(
            fence_lines(&lines),
            [false, true, true, true, false, true, true, true]
        );
        // Inline code is not a fence.
        assert_eq!(fence_lines(&["```x```", "b"]), [false, false]);
    }
}
