//! The raster back end: an RGB canvas with thick lines, filled circles and `font8x8`
//! bitmap text (scaled by an integer factor, 2x at the default size), encoded as PNG.

use font8x8::UnicodeFonts;

use super::render::{Anchor, BACKGROUND, Painter, Size, render};
use super::{Chart, PlotError, Rgb};

/// An RGB image, row-major, 3 bytes per pixel.
pub(crate) struct Canvas {
    w: u32,
    h: u32,
    /// Glyph scale of [`Size::Normal`]; small text uses the same, titles one more.
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

    fn glyph_scale(&self, size: Size) -> u32 {
        match size {
            Size::Small | Size::Normal => self.scale,
            Size::Title => self.scale + 1,
        }
    }

    /// The pixels, for tests.
    #[cfg(test)]
    pub(crate) fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = 3 * (y as usize * self.w as usize + x as usize);
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
}

fn glyph(c: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(c)
        .or_else(|| font8x8::LATIN_FONTS.get(c))
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

impl Painter for Canvas {
    fn size(&self) -> (f64, f64) {
        (f64::from(self.w), f64::from(self.h))
    }

    fn char_size(&self, size: Size) -> (f64, f64) {
        let s = f64::from(8 * self.glyph_scale(size));
        (s, s)
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
        let sc = self.glyph_scale(size) as i64;
        let (tw, th) = (8 * sc * s.chars().count() as i64, 8 * sc);
        let offset = match anchor {
            Anchor::Start => 0,
            Anchor::Middle => tw / 2,
            Anchor::End => tw,
        };
        let (cx, cy) = (at.0.round() as i64, at.1.round() as i64);
        for (k, ch) in s.chars().enumerate() {
            for (gy, row) in glyph(ch).iter().enumerate() {
                for gx in 0..8 {
                    if row & (1 << gx) == 0 {
                        continue;
                    }
                    for sy in 0..sc {
                        for sx in 0..sc {
                            // local coordinates: along the text, and down from its top
                            let lx = k as i64 * 8 * sc + gx * sc + sx - offset;
                            let ly = gy as i64 * sc + sy - th / 2;
                            let (x, y) = if vertical {
                                (cx + ly, cy - lx)
                            } else {
                                (cx + lx, cy + ly)
                            };
                            self.put(x, y, color);
                        }
                    }
                }
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
