//! The raster back end: an RGB canvas with thick lines, filled circles and anti-aliased text
//! in the plots' font (`font.rs`, rasterized by `ab_glyph`), encoded as PNG.

use ab_glyph::{Font, point};

use super::font::{FONT, layout, scale, text_width};
use super::render::{Anchor, BACKGROUND, Painter, Size, render};
use super::{Chart, PlotError, Rgb};

/// An RGB image, row-major, 3 bytes per pixel.
pub(crate) struct Canvas {
    w: u32,
    h: u32,
    /// Thickness and text scale: 1 for small canvases, 2 at the default 1600 x 1000.
    scale: u32,
    px: Vec<u8>,
}

impl Canvas {
    pub(crate) fn new(w: u32, h: u32) -> Canvas {
        let scale = (w.min(h) / 450).clamp(1, 4);
        Canvas {
            w,
            h,
            scale,
            px: BACKGROUND.repeat((w as usize) * (h as usize)),
        }
    }

    fn put(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && x < i64::from(self.w) && y < i64::from(self.h) {
            let i = 3 * (y as usize * self.w as usize + x as usize);
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn fill(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgb) {
        let (xa, xb) = (
            x0.round().max(-1.0) as i64,
            x1.round().min(f64::from(self.w)) as i64,
        );
        let (ya, yb) = (
            y0.round().max(-1.0) as i64,
            y1.round().min(f64::from(self.h)) as i64,
        );
        for y in ya..yb {
            for x in xa..xb {
                self.put(x, y, c);
            }
        }
    }

    /// Blends `c` over the pixel with coverage `a` in [0, 1].
    fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f32) {
        if x >= 0 && y >= 0 && x < i64::from(self.w) && y < i64::from(self.h) {
            let i = 3 * (y as usize * self.w as usize + x as usize);
            let a = a.clamp(0.0, 1.0);
            for (px, &ck) in self.px[i..i + 3].iter_mut().zip(&c) {
                let old = f32::from(*px);
                *px = (old + (f32::from(ck) - old) * a).round() as u8;
            }
        }
    }

    /// Font size in pixels per em.
    fn font_px(&self, size: Size) -> f32 {
        let s = self.scale as f32;
        match size {
            Size::Small => 6.9 * s,
            Size::Normal => 7.7 * s,
            Size::Title => 9.5 * s,
        }
    }

    /// The pixels, for tests.
    #[cfg(test)]
    pub(crate) fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = 3 * (y as usize * self.w as usize + x as usize);
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
}

impl Painter for Canvas {
    fn size(&self) -> (f64, f64) {
        (f64::from(self.w), f64::from(self.h))
    }

    fn char_size(&self, size: Size) -> (f64, f64) {
        // a typical advance (DejaVu Sans averages about 0.6 em) and the line height
        let px = f64::from(self.font_px(size));
        (0.6 * px, 1.15 * px)
    }

    fn text_width(&self, s: &str, size: Size) -> f64 {
        f64::from(text_width(self.font_px(size), s))
    }

    fn rect(&mut self, at: (f64, f64), wh: (f64, f64), fill: Rgb) {
        self.fill(at.0, at.1, at.0 + wh.0, at.1 + wh.1, fill);
    }

    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: Rgb, width: f64, dashed: bool) {
        let width = (width * f64::from(self.scale) / 2.0).max(1.0);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt();
        if !len.is_finite() || len > 1e5 {
            return;
        }
        let steps = (len * 2.0).ceil().max(1.0) as usize;
        let (on, period) = (9.0 * f64::from(self.scale), 15.0 * f64::from(self.scale));
        let half = width / 2.0;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            if dashed && (t * len) % period > on {
                continue;
            }
            let (x, y) = (a.0 + t * dx, a.1 + t * dy);
            self.fill(x - half, y - half, x + half, y + half, color);
        }
    }

    fn circle(&mut self, c: (f64, f64), r: f64, fill: Rgb) {
        if !(c.0.is_finite() && c.1.is_finite() && r.is_finite()) {
            return;
        }
        let (x0, x1) = ((c.0 - r).floor() as i64, (c.0 + r).ceil() as i64);
        let (y0, y1) = ((c.1 - r).floor() as i64, (c.1 + r).ceil() as i64);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (ddx, ddy) = (x as f64 + 0.5 - c.0, y as f64 + 0.5 - c.1);
                if ddx * ddx + ddy * ddy <= r * r {
                    self.put(x, y, fill);
                }
            }
        }
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
        let Some(font) = FONT.as_ref() else {
            return;
        };
        let px = self.font_px(size);
        let (glyphs, tw) = layout(font, px, s);
        let offset = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => tw / 2.0,
            Anchor::End => tw,
        };
        // vertically centred on `at`: the baseline half the cap height (0.73 em) below it
        let drop = 0.365 * px;
        let (cx, cy) = (at.0 as f32, at.1 as f32);
        for (id, gx) in glyphs {
            let g = id.with_scale_and_position(scale(font, px), point(gx - offset, 0.0));
            let Some(outline) = font.outline_glyph(g) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut hits: Vec<(i64, i64, f32)> = Vec::new();
            outline.draw(|x, y, a| {
                if a > 0.0 {
                    // local coordinates: along the text, and down from its centre line
                    let lx = b.min.x + x as f32;
                    let ly = b.min.y + y as f32 + drop;
                    let (px_, py_) = if vertical {
                        (cx + ly, cy - lx)
                    } else {
                        (cx + lx, cy + ly)
                    };
                    hits.push((px_.round() as i64, py_.round() as i64, a));
                }
            });
            for (x, y, a) in hits {
                self.blend(x, y, color, a);
            }
        }
    }
}

/// Renders `chart` on a `w` x `h` canvas.
pub(crate) fn rasterize(chart: &Chart, w: u32, h: u32) -> Canvas {
    let mut canvas = Canvas::new(w, h);
    render(chart, &mut canvas);
    canvas
}

/// Renders and encodes `chart` as an 8-bit RGB PNG.
pub(crate) fn render_png(chart: &Chart, w: u32, h: u32) -> Result<Vec<u8>, PlotError> {
    let canvas = rasterize(chart, w, h);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&canvas.px)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses_and_draws_anti_aliased_text() {
        assert!(FONT.is_some(), "the embedded font must parse");
        let mut c = Canvas::new(400, 200);
        c.text(
            (20.0, 100.0),
            "Pareto 89.4%",
            Size::Normal,
            Anchor::Start,
            [0, 0, 0],
            false,
        );
        let inked = c.px.chunks(3).filter(|p| p != &BACKGROUND).count();
        let grey = c.px.chunks(3).filter(|p| p[0] > 0 && p[0] < 255).count();
        assert!(inked > 50, "{inked}");
        assert!(grey > 10, "anti-aliased edges: {grey}");
        // proportional: "iii" is narrower than "WWW"
        assert!(c.text_width("iii", Size::Normal) < c.text_width("WWW", Size::Normal) / 2.0);
    }
}
