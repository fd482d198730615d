//! Word detection with the size-agnostic ("fitted") detection model: the
//! network runs on the image at its own size, padded only to the next
//! multiple of 32, instead of always on 800×600.

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

pub struct Detector {
    model: Model,
}

fn aligned(side: u32) -> usize {
    (side as usize).next_multiple_of(ALIGN).max(MIN_SIDE)
}

impl Detector {
    pub fn new(model: Model) -> Self {
        Self { model }
    }

    /// The oriented boxes of the words in `page`, in its own coordinates,
    /// unordered.
    pub fn detect_words(&self, page: &GrayImage) -> Result<Vec<RotatedRect>, EngineError> {
        self.detect_in(page, (0.0, 0.0))
    }

    /// [`Self::detect_words`] on the part of `page` that holds anything,
    /// for a deskewed page: the blank corners the rotation added, squeezed
    /// with the page, would only make its text smaller for the network. A
    /// page that fits the network unsqueezed is seen whole, as the model
    /// was tuned (cropped closer, a line of it was read with a space more).
    pub fn detect_words_in_content(&self, page: &GrayImage) -> Result<Vec<RotatedRect>, EngineError> {
        if page.width() <= MAX_WIDTH && page.height() <= MAX_HEIGHT {
            return self.detect_words(page);
        }
        let (x, y, width, height) = content_box(page);
        if (width, height) == page.dimensions() {
            return self.detect_words(page);
        }
        let content = image::imageops::crop_imm(page, x, y, width, height).to_image();
        self.detect_in(&content, (x as f32, y as f32))
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
        let mut input = NdTensor::full([1, 1, aligned(fit_height), aligned(fit_width)], BLACK);
        for (y, row) in fitted.as_raw().chunks_exact(cols).enumerate() {
            for (x, value) in row.iter().enumerate() {
                input[[0, 0, y, x]] = f32::from(*value) / 255.0 + BLACK;
            }
        }
        let output = self.model.run_one(input.view().into(), None).map_err(EngineError::model("detection"))?;
        let probabilities: NdTensor<f32, 4> = output.try_into().map_err(EngineError::output("detection"))?;
        let mask = NdTensor::from_fn([rows, cols], |[y, x]| probabilities[[0, 0, y, x]] > TEXT_THRESHOLD);

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

/// Paler than this is blank paper, for finding a page's margins.
const PAPER: u8 = 192;
/// Blank kept around the content: words at its edge are seen whole, with
/// context (at 16 pixels, a skewed receipt's "Milk 1L" was read "Mik1").
const CONTENT_MARGIN: u32 = 32;

/// The part of `page` that holds anything darker than paper, with a margin
/// (`x, y, width, height`); the whole page when it is blank.
fn content_box(page: &GrayImage) -> (u32, u32, u32, u32) {
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
    if right <= left || bottom <= top {
        return (0, 0, width, height);
    }
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
