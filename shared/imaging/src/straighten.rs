//! Turning a page upright: a quarter turn (0, 90, 180 or 270 degrees) and a
//! small rotation against its skew. The engine decides both from the page
//! and reads the straightened page; the worker straightens the page image
//! it keeps for the searchable PDF with the same function, so boxes, hOCR
//! and the PDF's text all refer to one picture.

use image::{DynamicImage, GrayImage, ImageBuffer, Pixel};
use serde::{Deserialize, Serialize};

/// What was done to a page before it was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Straightening {
    /// Degrees the page was turned clockwise: 0, 90, 180 or 270.
    pub rotation: u16,
    /// The skew found after the turn, in degrees, positive when lines ran
    /// down to the right; the page was turned back by as much (0 when under
    /// [`MIN_SKEW_DEGREES`]).
    pub skew_degrees: f32,
}

/// Skews under this are left alone: resampling costs sharpness, and the
/// recogniser reads such lines as they are.
pub const MIN_SKEW_DEGREES: f32 = 0.3;
/// Larger skews are not measured (a page at 45° is not "skewed").
pub const MAX_SKEW_DEGREES: f32 = 15.0;

impl Straightening {
    pub fn is_identity(&self) -> bool {
        self.rotation == 0 && self.skew_degrees == 0.0
    }
}

/// `image` turned by `rotation` then rotated against `skew_degrees`.
/// Grey stays grey; anything in colour becomes RGB.
pub fn straighten(image: &DynamicImage, how: Straightening) -> DynamicImage {
    if how.is_identity() {
        return image.clone();
    }
    let turned = match how.rotation {
        90 => image.rotate90(),
        180 => image.rotate180(),
        270 => image.rotate270(),
        _ => image.clone(),
    };
    if how.skew_degrees == 0.0 {
        return turned;
    }
    if turned.color().has_color() {
        DynamicImage::ImageRgb8(deskew(&turned.to_rgb8(), how.skew_degrees, image::Rgb([255, 255, 255])))
    } else {
        DynamicImage::ImageLuma8(deskew(&turned.to_luma8(), how.skew_degrees, image::Luma([255])))
    }
}

/// [`straighten`] of a grey page, as the engine reads it.
pub fn straighten_gray(image: &GrayImage, how: Straightening) -> GrayImage {
    let turned = match how.rotation {
        90 => image::imageops::rotate90(image),
        180 => image::imageops::rotate180(image),
        270 => image::imageops::rotate270(image),
        _ => image.clone(),
    };
    if how.skew_degrees == 0.0 { turned } else { deskew(&turned, how.skew_degrees, image::Luma([255])) }
}

/// The page rotated counter-clockwise by `skew_degrees` (bicubic), on a
/// canvas grown to hold all of it, the new corners filled with `fill`.
fn deskew<P>(image: &ImageBuffer<P, Vec<u8>>, skew_degrees: f32, fill: P) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8>,
{
    let (width, height) = image.dimensions();
    let angle = f64::from(skew_degrees).to_radians();
    let (sin, cos) = angle.sin_cos();
    let (w, h) = (f64::from(width), f64::from(height));
    let out_w = (w * cos.abs() + h * sin.abs()).round().max(1.0) as u32;
    let out_h = (w * sin.abs() + h * cos.abs()).round().max(1.0) as u32;
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ox, oy) = (f64::from(out_w) / 2.0, f64::from(out_h) / 2.0);
    let channels = P::CHANNEL_COUNT as usize;
    let source = image.as_raw();
    let mut out = ImageBuffer::from_pixel(out_w, out_h, fill);
    let fill_channels: Vec<f64> = fill.channels().iter().map(|&c| f64::from(c)).collect();
    let raw: &mut [u8] = &mut out;
    for y in 0..out_h {
        for x in 0..out_w {
            // The output pixel's centre, turned clockwise by the skew back
            // into the source (the source's lines run down by `angle`).
            let (dx, dy) = (f64::from(x) + 0.5 - ox, f64::from(y) + 0.5 - oy);
            let sx = cos * dx - sin * dy + cx - 0.5;
            let sy = sin * dx + cos * dy + cy - 0.5;
            if sx < -1.0 || sy < -1.0 || sx > w || sy > h {
                continue;
            }
            let (x0, y0) = (sx.floor(), sy.floor());
            let (wx, wy) = (catmull_rom(sx - x0), catmull_rom(sy - y0));
            let at = |xi: f64, yi: f64, c: usize| -> f64 {
                if xi < 0.0 || yi < 0.0 || xi >= w || yi >= h {
                    fill_channels[c]
                } else {
                    f64::from(source[(yi as usize * width as usize + xi as usize) * channels + c])
                }
            };
            let offset = (y as usize * out_w as usize + x as usize) * channels;
            for c in 0..channels {
                let mut value = 0.0;
                for (j, wy) in wy.iter().enumerate() {
                    for (i, wx) in wx.iter().enumerate() {
                        value += wx * wy * at(x0 + i as f64 - 1.0, y0 + j as f64 - 1.0, c);
                    }
                }
                raw[offset + c] = value.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Catmull-Rom weights of the four samples around a point `t` (0–1) past
/// the second: sharper than bilinear, which blurs small print twice over
/// when a scan already blurred it once.
fn catmull_rom(t: f64) -> [f64; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [0.5 * (-t3 + 2.0 * t2 - t), 0.5 * (3.0 * t3 - 5.0 * t2 + 2.0), 0.5 * (-3.0 * t3 + 4.0 * t2 + t), 0.5 * (t3 - t2)]
}

/// A page turned by `degrees` (any angle, clockwise), as a scanner or a
/// careless hand leaves it: for tests and benches.
pub fn turned_by(image: &DynamicImage, degrees: f32) -> DynamicImage {
    let quarter = ((degrees / 90.0).round() as i32).rem_euclid(4) as u16 * 90;
    let rest = degrees - f32::from(quarter);
    let rest = if rest > 180.0 { rest - 360.0 } else { rest };
    // Turning clockwise by `rest` is deskewing by `-rest`.
    straighten(image, Straightening { rotation: quarter, skew_degrees: -rest })
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;

    /// A black bar from (10, 20) to (70, 24) on white.
    fn bar() -> GrayImage {
        GrayImage::from_fn(100, 50, |x, y| {
            image::Luma([if (10..70).contains(&x) && (20..24).contains(&y) { 0 } else { 255 }])
        })
    }

    #[test]
    fn quarter_turns_are_exact_and_undo_each_other() {
        let page = DynamicImage::ImageLuma8(bar());
        for rotation in [90u16, 180, 270] {
            let turned = straighten(&page, Straightening { rotation, skew_degrees: 0.0 });
            let back = straighten(&turned, Straightening { rotation: 360 - rotation, skew_degrees: 0.0 });
            assert_eq!(back.to_luma8(), bar(), "{rotation}");
        }
        let turned = straighten(&page, Straightening { rotation: 90, skew_degrees: 0.0 });
        assert_eq!((turned.width(), turned.height()), (50, 100));
        // Clockwise: the bar near the top ends up near the right.
        assert_eq!(turned.to_luma8().get_pixel(50 - 22, 40).0[0], 0);
    }

    #[test]
    fn a_skew_is_undone_and_the_canvas_holds_the_whole_page() {
        let page = DynamicImage::ImageLuma8(bar());
        let skewed = turned_by(&page, 5.0);
        assert!(skewed.width() > 100 && skewed.height() > 50);
        // Clockwise by 5°: the bar's right end is lower than its left end.
        let dark_rows = |image: &GrayImage, x: u32| {
            (0..image.height()).filter(|&y| image.get_pixel(x, y).0[0] < 128).collect::<Vec<_>>()
        };
        let skewed = skewed.to_luma8();
        let left = dark_rows(&skewed, 20);
        let right = dark_rows(&skewed, 70);
        assert!(right[0] > left[0], "{left:?} {right:?}");
        let back = straighten_gray(&skewed, Straightening { rotation: 0, skew_degrees: 5.0 });
        // The bar's middle is 10 px left of the page's.
        let (l, r) = (dark_rows(&back, back.width() / 2 - 35), dark_rows(&back, back.width() / 2 + 15));
        assert!(l[0].abs_diff(r[0]) <= 1, "level again: {l:?} {r:?}");
    }

    #[test]
    fn colour_stays_colour_and_grey_stays_grey() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(20, 10, image::Rgb([200, 0, 0])));
        let how = Straightening { rotation: 90, skew_degrees: 2.0 };
        assert!(straighten(&rgb, how).color().has_color());
        assert!(!straighten(&DynamicImage::ImageLuma8(bar()), how).color().has_color());
    }
}
