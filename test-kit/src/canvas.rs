//! A white page to draw black text on, and a fixture: an image with the
//! text a perfect reader would return.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use image::{GrayImage, Luma, RgbImage};

/// A white page to draw black text on.
pub struct Page {
    pub image: GrayImage,
}

impl Page {
    pub fn new(width: u32, height: u32) -> Self {
        Self { image: GrayImage::from_pixel(width, height, Luma([255])) }
    }

    /// Draws `text` with its baseline at `baseline_y`, starting at `x`;
    /// returns the x where it ends.
    pub fn text(&mut self, font: &FontVec, px: f32, x: f32, baseline_y: f32, text: &str) -> f32 {
        let scaled = font.as_scaled(PxScale::from(px));
        let mut caret = x;
        let mut previous = None;
        for ch in text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(prev) = previous {
                caret += scaled.kern(prev, id);
            }
            let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(caret, baseline_y));
            if let Some(outlined) = font.outline_glyph(glyph) {
                let bounds = outlined.px_bounds();
                outlined.draw(|gx, gy, coverage| {
                    let (px_x, px_y) = (bounds.min.x as i64 + gx as i64, bounds.min.y as i64 + gy as i64);
                    if px_x >= 0
                        && px_y >= 0
                        && (px_x as u32) < self.image.width()
                        && (px_y as u32) < self.image.height()
                    {
                        let pixel = self.image.get_pixel_mut(px_x as u32, px_y as u32);
                        let ink = (coverage.clamp(0.0, 1.0) * 255.0) as u8;
                        pixel.0[0] = pixel.0[0].saturating_sub(ink);
                    }
                });
            }
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        caret
    }

    /// Width `text` would take.
    pub fn measure(font: &FontVec, px: f32, text: &str) -> f32 {
        let scaled = font.as_scaled(PxScale::from(px));
        text.chars().map(|c| scaled.h_advance(scaled.glyph_id(c))).sum()
    }

    /// Draws `text` so that it ends at `right_x`.
    pub fn text_right(&mut self, font: &FontVec, px: f32, right_x: f32, baseline_y: f32, text: &str) {
        let width = Self::measure(font, px, text);
        self.text(font, px, right_x - width, baseline_y, text);
    }
}

/// An image and the text a perfect reader would return, line by line, in
/// reading order.
pub struct Fixture {
    pub name: String,
    pub image: RgbImage,
    pub truth: String,
}

impl Fixture {
    pub(crate) fn from_page(name: impl Into<String>, page: Page, truth: &[&str]) -> Self {
        Self {
            name: name.into(),
            image: image::DynamicImage::ImageLuma8(page.image).into_rgb8(),
            truth: truth.join("\n"),
        }
    }

    pub fn png(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.image.write_to(&mut out, image::ImageFormat::Png).expect("PNG encoding into memory cannot fail");
        out.into_inner()
    }
}
