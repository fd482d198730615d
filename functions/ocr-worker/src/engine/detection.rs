//! Text detection behind [`TextDetector`]; here ocrs' word detector, with
//! the size-agnostic ("fitted") model: the network runs on the image at its
//! own size, padded only to the next multiple of 32, instead of always on
//! 800×600. PP-OCR's line detector is in `db`.

use std::borrow::Cow;

use image::GrayImage;
use image::imageops::FilterType;
use rten::Model;
use rten_imageproc::{PointF, RetrievalMode, RotatedRect, find_contours, min_area_rect, simplify_polygon};
use rten_tensor::NdTensor;
use rten_tensor::prelude::*;

use super::{BLACK, EngineError};

/// ocrs' scaling, kept: larger images are squashed to at most this size
/// before detection (recognition still reads the full-resolution image).
/// Text height is what detection is sensitive to, so the vertical cap is the
/// larger one.
const MAX_HEIGHT: u32 = 800;
const MAX_WIDTH: u32 = 600;
/// The U-Net halves its input six times; 32-aligned sizes (at least 64) keep
/// every level's skip connection and upsampled tensor within one pixel.
const ALIGN: usize = 32;
const MIN_SIDE: usize = 64;

/// ocrs' post-processing parameters for the official model.
const TEXT_THRESHOLD: f32 = 0.2;
const MIN_WORD_AREA: f32 = 100.0;
/// The model marks a slightly shrunken word area; grow each box back.
const EXPAND: f32 = 3.0;
/// On a downscaled image, each mask pixel stands for `scale` image pixels,
/// and the contour runs through the centres of the outermost text pixels,
/// where ocrs (which upsamples the probabilities first) finds the edge up
/// to a mask pixel further out. Boxes grow by this many `scale - 1` in
/// each dimension; ocr-bench on the 300-dpi page: 1 → CER 0.026 (line-end
/// letters cut: "reviewed" read "revieweo"), 2 → 0.005, 3 → 0.002.
const SCALED_EXPAND: f32 = 3.0;

/// A text detector: the oriented boxes of the text in a page. What a box
/// holds (a word, part of a line, a line) is the model's; line finding
/// groups them either way.
pub trait TextDetector: Send + Sync {
    /// The boxes in `grey`, moved by `offset` (x, y), unordered.
    fn detect_in(&self, grey: &GrayImage, offset: (f32, f32)) -> Result<Vec<RotatedRect>, EngineError>;

    /// Whether a page this large is seen at its own size.
    fn sees_whole(&self, width: u32, height: u32) -> bool;

    /// The oriented boxes of the text in `page`, in its own coordinates,
    /// unordered.
    fn detect_words(&self, page: &GrayImage) -> Result<Vec<RotatedRect>, EngineError> {
        self.detect_in(page, (0.0, 0.0))
    }

    /// [`Self::detect_words`] on the part of `page` that holds anything,
    /// for a deskewed page: the blank corners the rotation added, squeezed
    /// with the page, would only make its text smaller for the network. A
    /// page that fits the network unsqueezed is seen whole, as the model
    /// was tuned (cropped closer, a line of it was read with a space more).
    fn detect_words_in_content(&self, page: &GrayImage) -> Result<Vec<RotatedRect>, EngineError> {
        if self.sees_whole(page.width(), page.height()) {
            return self.detect_words(page);
        }
        let (x, y, width, height) = content_box(page);
        if (width, height) == page.dimensions() {
            return self.detect_words(page);
        }
        let content = image::imageops::crop_imm(page, x, y, width, height).to_image();
        self.detect_in(&content, (x as f32, y as f32))
    }
}

/// ocrs' word detector.
pub struct OcrsDetector {
    model: Model,
}

fn aligned(side: u32) -> usize {
    (side as usize).next_multiple_of(ALIGN).max(MIN_SIDE)
}

impl OcrsDetector {
    pub fn new(model: Model) -> Self {
        Self { model }
    }
}

impl TextDetector for OcrsDetector {
    fn sees_whole(&self, width: u32, height: u32) -> bool {
        width <= MAX_WIDTH && height <= MAX_HEIGHT
    }

    /// The words of `grey`, moved by `offset` (x, y).
    fn detect_in(&self, grey: &GrayImage, (left, top): (f32, f32)) -> Result<Vec<RotatedRect>, EngineError> {
        let (width, height) = grey.dimensions();
        let (fit_width, fit_height) = (width.min(MAX_WIDTH), height.min(MAX_HEIGHT));
        let fitted = if (fit_width, fit_height) == (width, height) {
            Cow::Borrowed(grey)
        } else {
            Cow::Owned(image::imageops::resize(grey, fit_width, fit_height, FilterType::Triangle))
        };

        let (rows, cols) = (fit_height as usize, fit_width as usize);
        // ocrs pads with black; a small crop whose ink reaches its edges is
        // set in paper instead, as text on a page is.
        let (margin, fill) = if is_tight_crop(grey) { (TIGHT_CROP_MARGIN, BLACK + 1.0) } else { (0, BLACK) };
        let side = |fitted: u32| aligned(fitted + 2 * margin as u32);
        let mut input = NdTensor::full([1, 1, side(fit_height), side(fit_width)], fill);
        for (y, row) in fitted.as_raw().chunks_exact(cols).enumerate() {
            for (x, value) in row.iter().enumerate() {
                input[[0, 0, y + margin, x + margin]] = f32::from(*value) / 255.0 + BLACK;
            }
        }
        let output = self.model.run_one(input.view().into(), None).map_err(EngineError::model("detection"))?;
        let probabilities: NdTensor<f32, 4> = output.try_into().map_err(EngineError::output("detection"))?;
        let mask =
            NdTensor::from_fn([rows, cols], |[y, x]| probabilities[[0, 0, y + margin, x + margin]] > TEXT_THRESHOLD);

        // Map mask pixels (centres) back to the original image.
        let (sx, sy) = (width as f32 / fit_width as f32, height as f32 / fit_height as f32);
        let words = find_contours(mask.view(), RetrievalMode::External)
            .iter()
            .filter_map(|contour| {
                let points: Vec<PointF> = contour
                    .iter()
                    .map(|p| PointF::from_yx(top + (p.y as f32 + 0.5) * sy - 0.5, left + (p.x as f32 + 0.5) * sx - 0.5))
                    .collect();
                let mut rect = min_area_rect(&simplify_polygon(&points, 2.0))?;
                rect.resize(
                    rect.width() + 2.0 * EXPAND + SCALED_EXPAND * (sx - 1.0),
                    rect.height() + 2.0 * EXPAND + SCALED_EXPAND * (sy - 1.0),
                );
                Some(rect)
            })
            .filter(|rect| rect.area() >= MIN_WORD_AREA)
            .collect();
        Ok(words)
    }
}

/// Ink this close to an image's edge makes it a tight crop.
const TIGHT_EDGE: u32 = 8;
/// Paper set around a tight crop for detection, in network pixels: a
/// multiple of the alignment, so the network's grid falls on the image as
/// before. On the development set's text lines, cut 3 pixels from their
/// ink, the first letters were lost ("view" read "Hew", "time" "ime",
/// "(a)" "la)"): CER 0.022 → 0.015 (16 px: 0.022; 48: 0.017; 64: 0.015).
pub(super) const TIGHT_CROP_MARGIN: usize = 32;

/// A small image (no larger than the network's input), framed by paper,
/// whose ink comes within [`TIGHT_EDGE`] of an edge: a line or a paragraph
/// cut from a page. Pages are left as ocrs reads them (the scanned
/// receipts, whose ink often runs to their edges, read worse in paper:
/// case-folded CER 0.191 → 0.202), and so are photos, whose background
/// runs off the edges (a receipt photographed on a table lost its rows).
pub(super) fn is_tight_crop(page: &GrayImage) -> bool {
    let (width, height) = page.dimensions();
    if u64::from(width) * u64::from(height) > u64::from(MAX_WIDTH * MAX_HEIGHT) || !framed_by_paper(page) {
        return false;
    }
    let (x, y, ink_width, ink_height) = ink_box(page);
    let ink = (ink_width, ink_height) != (0, 0);
    ink && (x < TIGHT_EDGE
        || y < TIGHT_EDGE
        || x + ink_width + TIGHT_EDGE > width
        || y + ink_height + TIGHT_EDGE > height)
}

/// Paler than this is blank paper, for finding a page's margins.
const PAPER: u8 = 192;
/// Blank kept around the content: words at its edge are seen whole, with
/// context (at 16 pixels, a skewed receipt's "Milk 1L" was read "Mik1").
const CONTENT_MARGIN: u32 = 32;

/// Whether (nearly) every pixel of the image's outermost rows and columns
/// is paper.
fn framed_by_paper(page: &GrayImage) -> bool {
    let (width, height) = page.dimensions();
    let frame =
        (0..width).flat_map(|x| [(x, 0), (x, height - 1)]).chain((0..height).flat_map(|y| [(0, y), (width - 1, y)]));
    let (mut paper, mut all) = (0usize, 0usize);
    for (x, y) in frame {
        all += 1;
        paper += usize::from(page.get_pixel(x, y).0[0] >= PAPER);
    }
    all > 0 && paper * 10 >= all * 9
}

/// The box of everything darker than paper in `page` (`x, y, width,
/// height`); all zero when it is blank.
pub(super) fn ink_box(page: &GrayImage) -> (u32, u32, u32, u32) {
    let (width, height) = page.dimensions();
    let (mut left, mut top, mut right, mut bottom) = (width, height, 0, 0);
    for (y, row) in page.as_raw().chunks_exact(width.max(1) as usize).enumerate() {
        let Some(first) = row.iter().position(|&value| value < PAPER) else { continue };
        let last = row.iter().rposition(|&value| value < PAPER).unwrap_or(first);
        left = left.min(first as u32);
        right = right.max(last as u32 + 1);
        top = top.min(y as u32);
        bottom = y as u32 + 1;
    }
    if right <= left || bottom <= top { (0, 0, 0, 0) } else { (left, top, right - left, bottom - top) }
}

/// The part of `page` that holds anything darker than paper, with a margin
/// (`x, y, width, height`); the whole page when it is blank.
pub(super) fn content_box(page: &GrayImage) -> (u32, u32, u32, u32) {
    let (width, height) = page.dimensions();
    let (left, top, ink_width, ink_height) = ink_box(page);
    if (ink_width, ink_height) == (0, 0) {
        return (0, 0, width, height);
    }
    let (right, bottom) = (left + ink_width, top + ink_height);
    let (x, y) = (left.saturating_sub(CONTENT_MARGIN), top.saturating_sub(CONTENT_MARGIN));
    (x, y, (right + CONTENT_MARGIN).min(width) - x, (bottom + CONTENT_MARGIN).min(height) - y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_aligned_for_the_network() {
        assert_eq!(aligned(1), 64);
        assert_eq!(aligned(64), 64);
        assert_eq!(aligned(65), 96);
        assert_eq!(aligned(600), 608);
        assert_eq!(aligned(800), 800);
    }

    #[test]
    fn only_small_images_with_ink_at_their_edges_are_set_in_paper() {
        let with_ink = |width, height, (x, y): (u32, u32)| {
            let mut image = GrayImage::from_pixel(width, height, image::Luma([250]));
            image.put_pixel(x, y, image::Luma([20]));
            image.put_pixel(width / 2, height / 2, image::Luma([20]));
            image
        };
        assert!(is_tight_crop(&with_ink(1500, 40, (3, 20))), "a line cut 3 px from its ink");
        assert!(is_tight_crop(&with_ink(300, 200, (150, 196))), "ink 3 px from the bottom");
        assert!(!is_tight_crop(&with_ink(300, 200, (20, 20))), "a margin of its own");
        assert!(!is_tight_crop(&with_ink(2480, 3508, (2, 2))), "a page, as ocrs reads it");
        assert!(!is_tight_crop(&GrayImage::from_pixel(300, 40, image::Luma([250]))), "blank");
        let mut photo = with_ink(300, 200, (150, 196));
        for x in 0..300 {
            for y in 0..30 {
                photo.put_pixel(x, y, image::Luma([90]));
            }
        }
        assert!(!is_tight_crop(&photo), "a photo's background running off its edge");
    }

    #[test]
    fn blank_margins_are_left_out_of_detection() {
        let mut page = GrayImage::from_pixel(400, 300, image::Luma([255]));
        for (x, y) in [(100, 80), (250, 200)] {
            page.put_pixel(x, y, image::Luma([0]));
        }
        assert_eq!(content_box(&page), (68, 48, 215, 185));
        let mut corner = GrayImage::from_pixel(400, 300, image::Luma([255]));
        corner.put_pixel(3, 299, image::Luma([100]));
        assert_eq!(content_box(&corner), (0, 267, 36, 33), "margins stop at the page's edge");
        let blank = GrayImage::from_pixel(400, 300, image::Luma([230]));
        assert_eq!(content_box(&blank), (0, 0, 400, 300), "a blank page is detected whole");
    }
}
