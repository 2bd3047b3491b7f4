//! The report as PDF, with [pdf-writer](https://docs.rs/pdf-writer): A4 pages broken where the
//! next block does not fit, the base-14 Helvetica and Helvetica-Bold with WinAnsiEncoding (no
//! font is embedded, and `pdftotext` or a reader's search finds the text; a character outside
//! WinAnsi is written as `?`), tables as rows of text (the head repeated after a page break),
//! line charts as stroked paths with their axis labels and legend as text. Uncompressed: the
//! model is small, and the text stays greppable.

use super::{num, Block, Chart, Model, ReportData};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
/// The HTML report's series colours.
const COLORS: [(f32, f32, f32); 4] = [
    (0.145, 0.388, 0.922),
    (0.851, 0.467, 0.024),
    (0.863, 0.149, 0.149),
    (0.020, 0.588, 0.412),
];

/// Glyph widths (per 1000 em) of Helvetica and Helvetica-Bold for ' ' to '~', from their AFM
/// files; other characters are taken as 556 (a digit), enough to lay out tables.
#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The report as a PDF document.
pub fn pdf(d: &ReportData<'_>) -> Vec<u8> {
    render(&Model::new(d))
}

/// `s` in WinAnsiEncoding; a character it lacks becomes `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        })
        .collect()
}

/// The width of `s` in points.
fn width(s: &str, bold: bool, size: f32) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let units: u32 = win_ansi(s)
        .into_iter()
        .map(|b| match b {
            b' '..=b'~' => u32::from(table[usize::from(b - b' ')]),
            _ => 556,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// `s`, cut to fit `max` points with `...` when it does not.
fn fit(s: &str, bold: bool, size: f32, max: f32) -> String {
    if width(s, bold, size) <= max {
        return s.to_owned();
    }
    let mut out: String = s.to_owned();
    while !out.is_empty() && width(&format!("{out}..."), bold, size) > max {
        out.pop();
    }
    out.push_str("...");
    out
}

/// The pages written so far and the one being written.
struct Doc {
    pages: Vec<Vec<u8>>,
    page: Content,
    /// Top of the free space on the page, points from the bottom.
    y: f32,
}

impl Doc {
    fn new() -> Doc {
        Doc {
            pages: Vec::new(),
            page: Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    fn new_page(&mut self) {
        let done = std::mem::replace(&mut self.page, Content::new());
        self.pages.push(done.finish().into_vec());
        self.y = PAGE_H - MARGIN;
    }

    /// Starts a new page unless `h` points fit on this one (or it is still empty).
    fn room(&mut self, h: f32) {
        if self.y - h < MARGIN && self.y < PAGE_H - MARGIN {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, y: f32, bold: bool, size: f32, s: &str) {
        let bytes = win_ansi(s);
        self.page
            .begin_text()
            .set_font(if bold { BOLD } else { REGULAR }, size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, gray: f32, w: f32) {
        self.page
            .set_stroke_gray(gray)
            .set_line_width(w)
            .move_to(x0, y0)
            .line_to(x1, y1)
            .stroke();
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = if level <= 2 { 14.0 } else { 11.0 };
        // With room for a few lines after it: a heading does not end a page.
        self.room(size * 2.0 + 60.0);
        self.y -= size * 1.6;
        let max = PAGE_W - 2.0 * MARGIN;
        let text = fit(text, true, size, max);
        self.text(MARGIN, self.y, true, size, &text);
        self.y -= size * 0.5;
    }

    fn paragraph(&mut self, text: &str) {
        let (size, max) = (10.0, PAGE_W - 2.0 * MARGIN);
        let mut lines: Vec<String> = Vec::new();
        for word in text.split(' ') {
            match lines.last_mut() {
                Some(l) if width(&format!("{l} {word}"), false, size) <= max => {
                    l.push(' ');
                    l.push_str(word);
                }
                _ => lines.push(fit(word, false, size, max)),
            }
        }
        for l in lines {
            self.room(size * 1.4);
            self.y -= size * 1.4;
            self.text(MARGIN, self.y, false, size, &l);
        }
        self.y -= size * 0.6;
    }

    fn table(&mut self, head: &[String], rows: &[Vec<String>]) {
        let (avail, pad) = (PAGE_W - 2.0 * MARGIN, 7.0);
        let natural = |size: f32| -> Vec<f32> {
            (0..head.len())
                .map(|i| {
                    rows.iter()
                        .filter_map(|r| r.get(i))
                        .map(|c| width(c, false, size))
                        .fold(width(&head[i], true, size), f32::max)
                        + pad
                })
                .collect()
        };
        let mut size = 9.0;
        let mut cols = natural(size);
        let total: f32 = cols.iter().sum();
        if total > avail {
            size = (size * avail / total).max(5.5);
            cols = natural(size);
            let total: f32 = cols.iter().sum();
            if total > avail {
                cols.iter_mut().for_each(|c| *c *= avail / total);
            }
        }
        let line = size * 1.5;
        self.room(line * 3.0);
        self.table_row(head, &cols, true, size);
        for row in rows {
            if self.y - line < MARGIN {
                self.new_page();
                self.table_row(head, &cols, true, size);
            }
            self.table_row(row, &cols, false, size);
        }
        self.y -= line * 0.6;
    }

    fn table_row(&mut self, cells: &[String], cols: &[f32], bold: bool, size: f32) {
        let line = size * 1.5;
        self.y -= line;
        let mut x = MARGIN;
        for (i, (cell, &w)) in cells.iter().zip(cols).enumerate() {
            let text = fit(cell, bold, size, w - 5.0);
            // The first column is text, left; the others are figures, right.
            let at = if i == 0 {
                x
            } else {
                x + w - 3.0 - width(&text, bold, size)
            };
            self.text(at, self.y + size * 0.35, bold, size, &text);
            x += w;
        }
        if bold {
            let y = self.y + size * 0.05;
            self.line(MARGIN, y, x, y, 0.6, 0.5);
        }
    }

    fn chart(&mut self, c: &Chart) {
        let plot_h = 120.0;
        self.room(plot_h + 44.0);
        self.y -= 14.0;
        self.text(MARGIN, self.y, true, 10.0, &c.title);
        // The legend on the title's line, right-aligned: a stroke of the colour, the name.
        let mut x = PAGE_W - MARGIN;
        for (i, (name, _)) in c.series.iter().enumerate().rev() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            let name = fit(name, false, 8.0, 100.0);
            x -= width(&name, false, 8.0);
            self.text(x, self.y, false, 8.0, &name);
            self.page
                .set_stroke_rgb(r, g, b)
                .set_line_width(2.0)
                .move_to(x - 14.0, self.y + 3.0)
                .line_to(x - 3.0, self.y + 3.0)
                .stroke();
            x -= 24.0;
        }
        self.y -= 6.0;
        let (left, right, top) = (MARGIN + 14.0, PAGE_W - MARGIN, self.y);
        let bottom = top - plot_h;
        self.page
            .set_fill_gray(0.98)
            .rect(left, bottom, right - left, plot_h)
            .fill_nonzero()
            .set_fill_gray(0.0);
        self.y = bottom - 22.0;
        let pts = || c.series.iter().flat_map(|(_, p)| p);
        if pts().next().is_none() {
            self.text(
                left + 10.0,
                bottom + plot_h / 2.0,
                false,
                9.0,
                "no data yet",
            );
            return;
        }
        let x0 = pts().map(|p| p.0).min().unwrap_or(0);
        let x1 = pts().map(|p| p.0).max().unwrap_or(0);
        let span = (x1 as f64 - x0 as f64).max(1.0);
        let y1 = pts()
            .map(|p| p.1)
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let sx = |x: i64| left + ((x as f64 - x0 as f64) / span) as f32 * (right - left);
        let sy = |y: f64| bottom + (y / y1) as f32 * (plot_h - 14.0);
        self.line(left, bottom, right, bottom, 0.6, 0.5);
        self.line(left, bottom, left, top, 0.6, 0.5);
        let ceiling = format!("{} {}", num(Some(y1), 1), c.unit);
        self.text(left + 3.0, top - 9.0, false, 7.0, ceiling.trim_end());
        self.text(MARGIN, bottom, false, 7.0, "0");
        let from = super::super::iso8601_ms(x0);
        let to = super::super::iso8601_ms(x1);
        self.text(left, bottom - 9.0, false, 7.0, &from);
        if x1 > x0 {
            let w = width(&to, false, 7.0);
            self.text(right - w, bottom - 9.0, false, 7.0, &to);
        }
        for (i, (_, points)) in c.series.iter().enumerate() {
            let (r, g, b) = COLORS[i % COLORS.len()];
            self.page.set_stroke_rgb(r, g, b).set_line_width(1.2);
            for (j, &(x, y)) in points.iter().enumerate() {
                if j == 0 {
                    self.page.move_to(sx(x), sy(y));
                } else {
                    self.page.line_to(sx(x), sy(y));
                }
            }
            if points.len() == 1 {
                let (x, y) = points[0];
                self.page.line_to(sx(x) + 1.5, sy(y));
            }
            if !points.is_empty() {
                self.page.stroke();
            }
        }
    }
}

pub(crate) fn render(m: &Model) -> Vec<u8> {
    let mut doc = Doc::new();
    doc.y -= 18.0;
    let title = fit(&m.title, true, 18.0, PAGE_W - 2.0 * MARGIN);
    doc.text(MARGIN, doc.y, true, 18.0, &title);
    doc.y -= 16.0;
    doc.text(
        MARGIN,
        doc.y,
        false,
        10.0,
        &format!("Generated {}", m.generated),
    );
    doc.y -= 6.0;
    for block in &m.blocks {
        match block {
            Block::Heading(level, text) => doc.heading(*level, text),
            Block::Paragraph(text) => doc.paragraph(text),
            Block::Table(head, rows) => doc.table(head, rows),
            Block::Chart(chart) => doc.chart(chart),
        }
    }
    doc.new_page();

    let mut pdf = Pdf::new();
    let (catalog, tree, regular, bold, info) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let ids: Vec<(Ref, Ref)> = (0..doc.pages.len() as i32)
        .map(|i| (Ref::new(6 + 2 * i), Ref::new(7 + 2 * i)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|&(page, _)| page))
        .count(ids.len() as i32);
    for (&(page_id, content_id), content) in ids.iter().zip(&doc.pages) {
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        pdf.stream(content_id, content);
    }
    for (id, name) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(name.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(&m.title))
        .producer(TextStr("trinity-core"));
    pdf.finish()
}

#[cfg(test)]
pub(super) fn tests_win_ansi(s: &str) -> Vec<u8> {
    win_ansi(s)
}
