//! The one font of the plots: DejaVu Sans, embedded in the binary (subset to Latin, see
//! `assets/fonts/README.md` for its licence). The PNG back end rasterizes it; the SVG back end
//! embeds it as an `@font-face` so viewers draw the same glyphs; both measure text with it, so
//! the layout (label widths, collisions) is the one the reader sees.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont};
use base64::Engine;

/// The family name the SVG uses (its `@font-face` and the fallbacks after it).
pub(crate) const FAMILY: &str = "DejaVu Sans";

const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The embedded font; `None` only if the embedded file were corrupt (a test checks it is not):
/// text is then measured at an average advance and left out of the PNG rather than the plot
/// failing.
pub(crate) static FONT: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(FONT_BYTES).ok());

/// DejaVu Sans's mean advance of Latin text, in em (used only without the font).
const MEAN_ADVANCE_EM: f32 = 0.6;

/// `ab_glyph`'s scale for an em of `px` pixels (its `PxScale` is the height from descender
/// to ascender, 1.16 em for this font, not the em that CSS `font-size` means).
pub(crate) fn scale(font: &FontRef<'static>, px: f32) -> PxScale {
    let units = font.units_per_em().unwrap_or(2048.0);
    PxScale::from(px * font.height_unscaled() / units)
}

/// Pen positions of the glyphs of `s` (with kerning) and the total advance, at `px` pixels
/// per em. Characters the subset lacks are drawn as `?`.
pub(crate) fn layout(font: &FontRef<'static>, px: f32, s: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let f = font.as_scaled(scale(font, px));
    let mut x = 0.0;
    let mut prev = None;
    let mut out = Vec::with_capacity(s.len());
    for ch in s.chars() {
        let mut id = f.glyph_id(ch);
        if id.0 == 0 {
            id = f.glyph_id('?');
        }
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        out.push((id, x));
        x += f.h_advance(id);
        prev = Some(id);
    }
    (out, x)
}

/// Width of `s` at `px` pixels per em.
pub(crate) fn text_width(px: f32, s: &str) -> f32 {
    match FONT.as_ref() {
        Some(font) => layout(font, px, s).1,
        None => MEAN_ADVANCE_EM * px * s.chars().count() as f32,
    }
}

/// The `@font-face` rule that carries the font inside an SVG (base64 TTF data URI), encoded
/// once per process however many charts are written.
pub(crate) fn svg_font_face() -> &'static str {
    static FACE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "@font-face {{ font-family: '{FAMILY}'; src: url(data:font/ttf;base64,{}) format('truetype'); }}",
            base64::engine::general_purpose::STANDARD.encode(FONT_BYTES)
        )
    });
    &FACE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_glyphs() {
        assert!(FONT.is_some(), "the embedded font must parse");
        // a proportional font: "iiii" is narrower than "WWWW"
        assert!(text_width(10.0, "iiii") < 0.5 * text_width(10.0, "WWWW"));
        // linear in the size
        let (a, b) = (text_width(10.0, "Pareto"), text_width(20.0, "Pareto"));
        assert!((b - 2.0 * a).abs() < 1e-3, "{a} {b}");
        // at an em of 1000 px, DejaVu Sans's own advances (units per em 2048): "W" 2025,
        // "i" 569 units
        assert!((text_width(1000.0, "W") - 2025.0 / 2.048).abs() < 1.0);
        assert!((text_width(1000.0, "i") - 569.0 / 2.048).abs() < 1.0);
    }
}
