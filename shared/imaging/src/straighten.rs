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

/// The size of a `width`×`height` page once [`straighten`]ed by `how`.
pub fn straightened_size(width: u32, height: u32, how: Straightening) -> (u32, u32) {
    let (width, height) = if how.rotation % 180 == 90 { (height, width) } else { (width, height) };
    if how.skew_degrees == 0.0 {
        return (width, height);
    }
    let (sin, cos) = f64::from(how.skew_degrees).to_radians().sin_cos();
    let (w, h) = (f64::from(width), f64::from(height));
    ((w * cos.abs() + h * sin.abs()).round().max(1.0) as u32, (w * sin.abs() + h * cos.abs()).round().max(1.0) as u32)
}

/// A page image as uploaded and where it lies on its straightened page:
/// the searchable PDF draws the upload's own pixels turned by this map
/// (the viewer resamples them) instead of a copy [`straighten`]ed here,
/// which on a 35-megapixel colour photo cost seconds and 100 MB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The image's own size, in pixels.
    pub width: u32,
    pub height: u32,
    /// `[a, b, c, d, e, f]`: the image's point (x, y) (pixels, y down) is
    /// the straightened page's (a·x + c·y + e, b·x + d·y + f), the order of
    /// a PDF matrix.
    pub matrix: [f64; 6],
}

/// Where a `width`×`height` page lands once [`straighten`]ed by `how`: the
/// inverse of the quarter turn and the rotation `straighten` samples with.
pub fn placement(width: u32, height: u32, how: Straightening) -> Placement {
    let (w, h) = (f64::from(width), f64::from(height));
    let turn = |x: f64, y: f64| match how.rotation {
        90 => (h - y, x),
        180 => (w - x, h - y),
        270 => (y, w - x),
        _ => (x, y),
    };
    let (turned_w, turned_h) = if how.rotation % 180 == 90 { (h, w) } else { (w, h) };
    let (out_w, out_h) = straightened_size(width, height, how);
    let (sin, cos) = f64::from(how.skew_degrees).to_radians().sin_cos();
    let map = |x: f64, y: f64| {
        let (x, y) = turn(x, y);
        let (dx, dy) = (x - turned_w / 2.0, y - turned_h / 2.0);
        (cos * dx + sin * dy + f64::from(out_w) / 2.0, -sin * dx + cos * dy + f64::from(out_h) / 2.0)
    };
    let (e, f) = map(0.0, 0.0);
    let (x1, y1) = map(1.0, 0.0);
    let (x2, y2) = map(0.0, 1.0);
    Placement { width, height, matrix: [x1 - e, y1 - f, x2 - e, y2 - f, e, f] }
}

/// The page rotated counter-clockwise by `skew_degrees` (bicubic), on a
/// canvas grown to hold all of it, the new corners filled with `fill`.
/// A 35-megapixel receipt photo is rotated twice per job (grey for reading,
/// in colour for the outputs), so the inner loop matters: the 16 weights
/// are made once per pixel, not per channel, and pixels whose 4×4
/// neighbourhood lies inside the page (all but a border of two) are read
/// without a bounds check per sample.
fn deskew<P>(image: &ImageBuffer<P, Vec<u8>>, skew_degrees: f32, fill: P) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8>,
{
    let (width, height) = image.dimensions();
    let (sin, cos) = f64::from(skew_degrees).to_radians().sin_cos();
    let (w, h) = (f64::from(width), f64::from(height));
    let (out_w, out_h) = straightened_size(width, height, Straightening { rotation: 0, skew_degrees });
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ox, oy) = (f64::from(out_w) / 2.0, f64::from(out_h) / 2.0);
    let channels = P::CHANNEL_COUNT as usize;
    let source = image.as_raw();
    let stride = width as usize * channels;
    let mut out = ImageBuffer::from_pixel(out_w, out_h, fill);
    let fill_channels: Vec<f64> = fill.channels().iter().map(|&c| f64::from(c)).collect();
    let (last_x, last_y) = (i64::from(width) - 1, i64::from(height) - 1);
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
            // floor() without a libm call: both are at least -1 here.
            let x0 = if sx < 0.0 { -1 } else { sx as i64 };
            let y0 = if sy < 0.0 { -1 } else { sy as i64 };
            let (wx, wy) = (catmull_rom(sx - x0 as f64), catmull_rom(sy - y0 as f64));
            let mut weights = [0.0; 16];
            for (j, wy) in wy.iter().enumerate() {
                for (i, wx) in wx.iter().enumerate() {
                    weights[j * 4 + i] = wx * wy;
                }
            }
            let offset = (y as usize * out_w as usize + x as usize) * channels;
            if x0 >= 1 && y0 >= 1 && x0 + 2 <= last_x && y0 + 2 <= last_y {
                let corner = (y0 as usize - 1) * stride + (x0 as usize - 1) * channels;
                for c in 0..channels {
                    let mut value = 0.0;
                    for j in 0..4 {
                        let row = &source[corner + j * stride + c..];
                        for i in 0..4 {
                            value += weights[j * 4 + i] * f64::from(row[i * channels]);
                        }
                    }
                    raw[offset + c] = to_channel(value);
                }
            } else {
                let at = |xi: i64, yi: i64, c: usize| -> f64 {
                    if xi < 0 || yi < 0 || xi > last_x || yi > last_y {
                        fill_channels[c]
                    } else {
                        f64::from(source[yi as usize * stride + xi as usize * channels + c])
                    }
                };
                for c in 0..channels {
                    let mut value = 0.0;
                    for j in 0..4 {
                        for i in 0..4 {
                            value += weights[j * 4 + i] * at(x0 + i as i64 - 1, y0 + j as i64 - 1, c);
                        }
                    }
                    raw[offset + c] = to_channel(value);
                }
            }
        }
    }
    out
}

/// A sample rounded to the nearest level (half up), within 0–255.
fn to_channel(value: f64) -> u8 {
    (value.clamp(0.0, 255.0) + 0.5) as u8
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

    /// The bicubic rotation as first written, one sample at a time with
    /// its bounds checked: what the fast paths must reproduce.
    fn deskew_reference<P: Pixel<Subpixel = u8>>(
        image: &ImageBuffer<P, Vec<u8>>,
        skew_degrees: f32,
        fill: P,
    ) -> ImageBuffer<P, Vec<u8>> {
        let (width, height) = image.dimensions();
        let angle = f64::from(skew_degrees).to_radians();
        let (sin, cos) = angle.sin_cos();
        let (w, h) = (f64::from(width), f64::from(height));
        let out_w = (w * cos.abs() + h * sin.abs()).round().max(1.0) as u32;
        let out_h = (w * sin.abs() + h * cos.abs()).round().max(1.0) as u32;
        let channels = P::CHANNEL_COUNT as usize;
        let mut out = ImageBuffer::from_pixel(out_w, out_h, fill);
        for y in 0..out_h {
            for x in 0..out_w {
                let (dx, dy) =
                    (f64::from(x) + 0.5 - f64::from(out_w) / 2.0, f64::from(y) + 0.5 - f64::from(out_h) / 2.0);
                let sx = cos * dx - sin * dy + w / 2.0 - 0.5;
                let sy = sin * dx + cos * dy + h / 2.0 - 0.5;
                if sx < -1.0 || sy < -1.0 || sx > w || sy > h {
                    continue;
                }
                let (x0, y0) = (sx.floor(), sy.floor());
                let (wx, wy) = (catmull_rom(sx - x0), catmull_rom(sy - y0));
                for c in 0..channels {
                    let mut value = 0.0;
                    for (j, wy) in wy.iter().enumerate() {
                        for (i, wx) in wx.iter().enumerate() {
                            let (xi, yi) = (x0 + i as f64 - 1.0, y0 + j as f64 - 1.0);
                            let sample = if xi < 0.0 || yi < 0.0 || xi >= w || yi >= h {
                                f64::from(fill.channels()[c])
                            } else {
                                f64::from(image.get_pixel(xi as u32, yi as u32).channels()[c])
                            };
                            value += wx * wy * sample;
                        }
                    }
                    out.get_pixel_mut(x, y).channels_mut()[c] = value.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        out
    }

    #[test]
    fn the_fast_rotation_is_the_reference_rotation() {
        // Noise and sharp edges (the worst case for rounding), grey and
        // colour, pages smaller than a 4x4 neighbourhood included.
        let mut state = 0x2545_f491_u32;
        let mut noise = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        };
        for (width, height) in [(97, 61), (3, 2), (1, 1), (40, 200)] {
            let gray = GrayImage::from_fn(width, height, |_, _| image::Luma([noise()]));
            let rgb = RgbImage::from_fn(width, height, |_, _| image::Rgb([noise(), noise(), noise()]));
            for degrees in [0.3, -0.4, 3.0, -6.5, 10.0, -14.9] {
                let fast = deskew(&gray, degrees, image::Luma([255]));
                let slow = deskew_reference(&gray, degrees, image::Luma([255]));
                assert_eq!(fast.dimensions(), slow.dimensions());
                assert!(fast.as_raw() == slow.as_raw(), "grey {width}x{height} at {degrees}°");
                let fast = deskew(&rgb, degrees, image::Rgb([255, 255, 255]));
                let slow = deskew_reference(&rgb, degrees, image::Rgb([255, 255, 255]));
                assert!(fast.as_raw() == slow.as_raw(), "colour {width}x{height} at {degrees}°");
            }
        }
    }

    #[test]
    fn the_placement_puts_each_point_where_straightening_does() {
        // One dark dot on a page; straightened every way, the dot must be
        // where the placement maps the dot's centre.
        let (width, height) = (120, 80);
        for rotation in [0, 90, 180, 270] {
            for skew_degrees in [0.0, 3.0, -7.5, 12.0] {
                for (x, y) in [(10, 12), (100, 70), (60, 5)] {
                    let mut page = GrayImage::from_pixel(width, height, image::Luma([255]));
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        page.put_pixel(x + dx, y + dy, image::Luma([0]));
                    }
                    let how = Straightening { rotation, skew_degrees };
                    let straight = straighten_gray(&page, how);
                    let Placement { matrix: [a, b, c, d, e, f], .. } = placement(width, height, how);
                    assert_eq!(straight.dimensions(), straightened_size(width, height, how));
                    let (cx, cy) = (f64::from(x) + 1.0, f64::from(y) + 1.0);
                    let (px, py) = (a * cx + c * cy + e, b * cx + d * cy + f);
                    let darkest = straight.enumerate_pixels().min_by_key(|(_, _, p)| p.0[0]).unwrap();
                    let (dx, dy) = (f64::from(darkest.0) + 0.5 - px, f64::from(darkest.1) + 0.5 - py);
                    assert!(
                        dx.hypot(dy) <= 1.5,
                        "{how:?} dot ({x}, {y}): at {darkest:?}, placed at ({px:.1}, {py:.1})"
                    );
                }
            }
        }
    }

    #[test]
    fn colour_stays_colour_and_grey_stays_grey() {
        let rgb = DynamicImage::ImageRgb8(RgbImage::from_pixel(20, 10, image::Rgb([200, 0, 0])));
        let how = Straightening { rotation: 90, skew_degrees: 2.0 };
        assert!(straighten(&rgb, how).color().has_color());
        assert!(!straighten(&DynamicImage::ImageLuma8(bar()), how).color().has_color());
    }
}
