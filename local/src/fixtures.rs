//! Test images with known text, rendered here from the machine's fonts
//! (Debian's fonts-dejavu-core and fonts-liberation2), and the character
//! error rate (CER) to compare OCR output with the truth.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use anyhow::{Context, Result, anyhow};
use image::{GrayImage, Luma, RgbImage};

const FONT_DIRS: [&str; 2] = ["/usr/share/fonts/truetype", "/usr/share/fonts"];

/// Finds a font file by name under the system font directories.
pub fn find_font(file_name: &str) -> Result<PathBuf> {
    fn search(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
        let entries = std::fs::read_dir(dir).ok()?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth > 0 {
                if let Some(found) = search(&path, name, depth - 1) {
                    return Some(found);
                }
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
        None
    }
    FONT_DIRS
        .iter()
        .find_map(|dir| search(Path::new(dir), file_name, 3))
        .ok_or_else(|| anyhow!("font {file_name} not found: apt-get install fonts-dejavu-core fonts-liberation2"))
}

pub fn load_font(file_name: &str) -> Result<FontVec> {
    let path = find_font(file_name)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    FontVec::try_from_vec(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

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
    fn from_page(name: impl Into<String>, page: Page, truth: &[&str]) -> Self {
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

/// Lines of prose, one per line of the image.
pub fn paragraph(name: &str, font: &FontVec, px: f32, lines: &[&str]) -> Fixture {
    let width = lines.iter().map(|l| Page::measure(font, px, l)).fold(0.0, f32::max) + 2.0 * px;
    let height = (lines.len() as f32 + 1.0) * px * 1.5;
    let mut page = Page::new(width as u32, height as u32);
    for (i, line) in lines.iter().enumerate() {
        page.text(font, px, px, px * 1.5 * (i as f32 + 1.0), line);
    }
    Fixture::from_page(name, page, lines)
}

/// A till receipt: item names on the left, prices flush right. Each item
/// and its price must come out as one line.
pub fn receipt(font: &FontVec) -> Fixture {
    let rows = [
        ("CORNER GROCERY", ""),
        ("Milk 1L", "1.29"),
        ("Bread", "2.49"),
        ("Apples 1kg", "3.10"),
        ("Coffee beans", "8.99"),
        ("TOTAL", "15.87"),
    ];
    let px = 28.0;
    let mut page = Page::new(560, (rows.len() as f32 * px * 1.6 + px * 2.0) as u32);
    let mut truth = Vec::new();
    for (i, (item, price)) in rows.iter().enumerate() {
        let y = px * 1.6 * (i as f32 + 1.0) + px * 0.5;
        page.text(font, px, 30.0, y, item);
        if !price.is_empty() {
            page.text_right(font, px, 530.0, y, price);
        }
        truth.push(if price.is_empty() { item.to_string() } else { format!("{item} {price}") });
    }
    let truth: Vec<&str> = truth.iter().map(String::as_str).collect();
    Fixture::from_page("receipt", page, &truth)
}

/// Two columns of text: the left one reads first, top to bottom.
pub fn two_columns(font: &FontVec) -> Fixture {
    let left = ["The quick brown fox", "jumps over the lazy", "dog near the river", "bank at sunrise."];
    let right = ["Meanwhile the cat", "slept on a warm", "windowsill, quite", "undisturbed."];
    let px = 26.0;
    let mut page = Page::new(900, (left.len() as f32 * px * 1.5 + px * 2.0) as u32);
    for (i, (l, r)) in left.iter().zip(right.iter()).enumerate() {
        let y = px * 1.5 * (i as f32 + 1.0) + px * 0.3;
        page.text(font, px, 30.0, y, l);
        page.text(font, px, 500.0, y, r);
    }
    let truth: Vec<&str> = left.iter().chain(right.iter()).copied().collect();
    Fixture::from_page("two-columns", page, &truth)
}

/// Something like an application window: a title, a menu, form labels.
pub fn screenshot(font: &FontVec, mono: &FontVec) -> Fixture {
    let mut page = Page::new(800, 360);
    for x in 0..800 {
        for y in 0..48 {
            page.image.put_pixel(x, y, Luma([225]));
        }
    }
    let lines = [
        (font, 22.0, 20.0, 32.0, "Settings - Account"),
        (font, 20.0, 20.0, 100.0, "Display name: Ada Lovelace"),
        (font, 20.0, 20.0, 150.0, "Email: ada@example.org"),
        (mono, 20.0, 20.0, 200.0, "API key: 7f3a-91bc-22de"),
        (font, 20.0, 20.0, 250.0, "Two-factor authentication is on"),
        (font, 20.0, 20.0, 320.0, "Save changes"),
    ];
    for (f, px, x, y, text) in lines {
        page.text(f, px, x, y, text);
    }
    let truth: Vec<&str> = lines.iter().map(|l| l.4).collect();
    Fixture::from_page("screenshot", page, &truth)
}

/// Deterministic light noise (xorshift), so benchmark runs compare.
pub fn add_noise(image: &mut RgbImage, amplitude: i16, seed: u64) {
    let mut state = seed.max(1);
    for pixel in image.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delta = (state % (2 * amplitude as u64 + 1)) as i16 - amplitude;
        for channel in pixel.0.iter_mut() {
            *channel = (*channel as i16 + delta).clamp(0, 255) as u8;
        }
    }
}

/// Rotates by `degrees` about the centre (bilinear), filling with white.
pub fn rotate(image: &RgbImage, degrees: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (sx, sy) = (cos * dx + sin * dy + cx, -sin * dx + cos * dy + cy);
        if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
            return image::Rgb([255, 255, 255]);
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let mut out = [0u8; 3];
        for (c, value) in out.iter_mut().enumerate() {
            let p = |x: u32, y: u32| image.get_pixel(x, y).0[c] as f32;
            let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
            let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
            *value = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
        image::Rgb(out)
    })
}

/// Whitespace-normalised text: runs of spaces and tabs become one space,
/// lines are trimmed and empty lines dropped.
pub fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Character error rate: edit distance / reference length, after
/// normalising whitespace. Line breaks count, so reading order matters.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let reference: Vec<char> = normalise(reference).chars().collect();
    let hypothesis: Vec<char> = normalise(hypothesis).chars().collect();
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[hypothesis.len()] as f64 / reference.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cer_counts_edits_against_the_reference() {
        assert_eq!(cer("hello", "hello"), 0.0);
        assert_eq!(cer("hello", "hallo"), 0.2);
        assert_eq!(cer("ab\ncd", "ab  \n\n cd"), 0.0);
        assert_eq!(cer("abc", ""), 1.0);
        assert!(cer("ab\ncd", "cd\nab") > 0.5, "reading order must count");
    }

    #[test]
    fn rendering_puts_ink_on_the_page() {
        let font = load_font("DejaVuSans.ttf").unwrap();
        let fixture = paragraph("p", &font, 24.0, &["Hello"]);
        let dark = fixture.image.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 100, "only {dark} dark pixels");
        assert_eq!(rotate(&fixture.image, 0.0), fixture.image);
    }
}
