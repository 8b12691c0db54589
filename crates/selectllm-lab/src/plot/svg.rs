//! The SVG back end: each drawing primitive becomes one element; text is escaped and set in
//! the plots' font (`font.rs`), which the document carries as an `@font-face`, measured with
//! the same font's advances.

use std::fmt::Write;

use super::font::{FAMILY, svg_font_face, text_width};
use super::render::{Anchor, Painter, Size, render};
use super::{Chart, Rgb};

struct SvgPainter {
    w: f64,
    h: f64,
    out: String,
}

fn font_px(size: Size) -> f64 {
    match size {
        Size::Small => 11.0,
        Size::Normal => 13.0,
        Size::Title => 17.0,
    }
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // control characters are not allowed in XML 1.0
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Painter for SvgPainter {
    fn size(&self) -> (f64, f64) {
        (self.w, self.h)
    }

    fn char_size(&self, size: Size) -> (f64, f64) {
        let f = font_px(size);
        (0.6 * f, 1.15 * f)
    }

    fn text_width(&self, s: &str, size: Size) -> f64 {
        f64::from(text_width(font_px(size) as f32, s))
    }

    fn rect(&mut self, at: (f64, f64), wh: (f64, f64), fill: Rgb) {
        let _ = writeln!(
            self.out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            at.0,
            at.1,
            wh.0,
            wh.1,
            hex(fill)
        );
    }

    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64, dashed: bool) {
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="{width}"{dash}/>"#,
            a.0,
            a.1,
            b.0,
            b.1,
            hex(color)
        );
    }

    fn circle(&mut self, c: (f64, f64), r: f64, fill: Rgb) {
        let _ = writeln!(
            self.out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="{}"/>"#,
            c.0,
            c.1,
            hex(fill)
        );
    }

    fn text(
        &mut self,
        at: (f64, f64),
        s: &str,
        size: Size,
        anchor: Anchor,
        color: Rgb,
        vertical: bool,
    ) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let rotate = if vertical {
            format!(r#" transform="rotate(-90 {:.1} {:.1})""#, at.0, at.1)
        } else {
            String::new()
        };
        let weight = if size == Size::Title {
            r#" font-weight="bold""#
        } else {
            ""
        };
        let _ = writeln!(
            self.out,
            r#"<text x="{:.1}" y="{:.1}" font-size="{}" text-anchor="{anchor}" dominant-baseline="central" fill="{}"{weight}{rotate}>{}</text>"#,
            at.0,
            at.1,
            font_px(size),
            hex(color),
            escape(s)
        );
    }
}

/// The whole SVG document for `chart` at `w` x `h` user units.
pub(crate) fn render_svg(chart: &Chart, w: f64, h: f64) -> String {
    let mut p = SvgPainter {
        w,
        h,
        out: String::new(),
    };
    let _ = writeln!(p.out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        p.out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="'{FAMILY}', Verdana, sans-serif">"#
    );
    let _ = writeln!(p.out, "<title>{}</title>", escape(&chart.title));
    let _ = writeln!(p.out, "<style>{}</style>", svg_font_face());
    render(chart, &mut p);
    p.out.push_str("</svg>\n");
    p.out
}
