//! What a camera does to a page: perspective, uneven light, noise, JPEG,
//! a turn.

use anyhow::Result;
use image::RgbImage;

use crate::canvas::Fixture;
use crate::rng::Rng;

/// A receipt as a phone photographs it: slight perspective, uneven light,
/// sensor noise, JPEG at quality 70.
pub fn photographed(fixture: &Fixture, seed: u64) -> Result<Fixture> {
    let (w, h) = fixture.image.dimensions();
    let (out_w, out_h) = (w + w / 10, h + h / 10);
    // Each output row maps to a source row; the top edge is narrower than
    // the bottom (the phone tilted back), and the page sits off-centre.
    let mut photo = RgbImage::from_fn(out_w, out_h, |x, y| {
        let v = y as f32 / out_h as f32;
        let shrink = 0.06 * (1.0 - v);
        let u = x as f32 / out_w as f32;
        let sx = ((u - 0.05) / (0.9 - 2.0 * shrink * 0.9) - shrink / 0.9) * w as f32;
        let sy = (v - 0.04) / 0.91 * h as f32;
        let light = 0.78 + 0.22 * (1.0 - (u - 0.7).abs()) * (1.0 - 0.5 * v);
        if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
            return image::Rgb([70, 66, 60]);
        }
        let p = fixture.image.get_pixel(sx as u32, sy as u32).0;
        image::Rgb(p.map(|c| (c as f32 * light) as u8))
    });
    add_noise(&mut photo, 12, seed);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 70).encode_image(&photo)?;
    let image = image::load_from_memory(&jpeg)?.into_rgb8();
    Ok(Fixture { name: format!("{}-photo", fixture.name), image, truth: fixture.truth.clone() })
}

/// Deterministic light noise (xorshift), so benchmark runs compare.
pub fn add_noise(image: &mut RgbImage, amplitude: i16, seed: u64) {
    let mut rng = Rng::new(seed);
    for pixel in image.pixels_mut() {
        let delta = (rng.next_u64() % (2 * amplitude as u64 + 1)) as i16 - amplitude;
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
