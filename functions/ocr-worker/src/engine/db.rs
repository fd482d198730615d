//! PP-OCR's text detector: a DBNet ("differentiable binarization") that
//! marks each printed line's core, with PaddleOCR's post-processing (as
//! RapidOCR 3.10 configures it for PP-OCRv6): the probability map
//! thresholded, each region's smallest rectangle kept when its mean
//! probability is high enough, then grown back by the share of its area
//! the network was trained to shrink it by.

use image::GrayImage;
use image::imageops::FilterType;
use rten::Model;
use rten_imageproc::{
    BoundingRect, PointF, RectF, RetrievalMode, RotatedRect, Vec2, find_contours, min_area_rect, simplify_polygon,
};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, NdTensorView};

use super::detection::{TIGHT_CROP_MARGIN, TextDetector, is_tight_crop};
use super::params::DbParams;
use super::{EngineError, gutters};

/// The network's input side is a multiple of this (it halves the page
/// five times).
const ALIGN: u32 = 32;

// The largest side a page is seen at (`DbParams::max_side`, 1280 px):
// PaddleOCR enlarges every page to at least 736 pixels on its shorter side
// and never shrinks one, which costs RapidOCR most of its time on a 300-dpi
// scan. PaddleOCR's post-processing parameters for PP-OCRv6 (RapidOCR
// 3.10's `config.yaml`) are `DbParams`' defaults.

/// Small images are enlarged to at least this on their shorter side, as
/// far as the largest side allows.
const MIN_SIDE: u32 = 64;
/// Regions thinner than this (in network pixels) are specks, before and
/// (plus two) after growing.
const MIN_SIZE: f32 = 3.0;

pub struct DbDetector {
    model: Model,
    params: DbParams,
}

impl DbDetector {
    pub fn new(model: Model, params: DbParams) -> Self {
        Self { model, params }
    }
}

/// The network's input size for an image of `width` × `height`: within
/// `max_side`, enlarged to [`MIN_SIDE`] when small, each side rounded to
/// [`ALIGN`].
fn input_size(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let (longest, shortest) = (width.max(height) as f32, width.min(height).max(1) as f32);
    let (max_side, min_side) = (max_side as f32, MIN_SIDE as f32);
    let scale = if longest > max_side {
        max_side / longest
    } else if shortest < min_side {
        (min_side / shortest).min(max_side / longest)
    } else {
        1.0
    };
    let side = |s: u32| ((s as f32 * scale / ALIGN as f32).round() as u32 * ALIGN).max(ALIGN);
    (side(width), side(height))
}

impl TextDetector for DbDetector {
    fn sees_whole(&self, width: u32, height: u32) -> bool {
        width.max(height) <= self.params.max_side
    }

    fn detect_in(&self, grey: &GrayImage, (left, top): (f32, f32)) -> Result<Vec<RotatedRect>, EngineError> {
        let (width, height) = grey.dimensions();
        if width == 0 || height == 0 {
            return Ok(Vec::new());
        }
        let DbParams { max_side, threshold, box_threshold, unclip_ratio } = self.params;
        let (cols, rows) = input_size(width, height, max_side);
        let resized = image::imageops::resize(grey, cols, rows, FilterType::Triangle);
        let (cols, rows) = (cols as usize, rows as usize);
        // A line cut close to its ink is set in paper, as text on a page is.
        let margin = if is_tight_crop(grey) { TIGHT_CROP_MARGIN } else { 0 };
        // Grey in every colour channel, scaled to [-1, 1] as PaddleOCR's
        // mean and deviation (0.5, 0.5) do: paper is 1.
        let mut input = NdTensor::full([1, 3, rows + 2 * margin, cols + 2 * margin], 1.0);
        for (y, row) in resized.as_raw().chunks_exact(cols).enumerate() {
            for (x, value) in row.iter().enumerate() {
                let value = f32::from(*value) / 127.5 - 1.0;
                for channel in 0..3 {
                    input[[0, channel, y + margin, x + margin]] = value;
                }
            }
        }
        let output = self.model.run_one(input.view().into(), None).map_err(EngineError::model("detection"))?;
        let probabilities: NdTensor<f32, 4> = output.try_into().map_err(EngineError::output("detection"))?;
        let probability = probabilities.slice((0, 0, margin..margin + rows, margin..margin + cols));
        if probability.shape() != [rows, cols] {
            return Err(EngineError::Unexpected(format!(
                "detection output {:?} for an input of {rows}x{cols}",
                probability.shape()
            )));
        }
        // PaddleOCR dilates the mask by a 2x2 square (RapidOCR's
        // `use_dilation`): a line's core broken by a thin gap stays one.
        let mask = NdTensor::from_fn([rows, cols], |[y, x]| {
            let (y0, x0) = (y.saturating_sub(1), x.saturating_sub(1));
            (y0..=y).any(|yy| (x0..=x).any(|xx| probability[[yy, xx]] > threshold))
        });
        let (sx, sy) = (width as f32 / cols as f32, height as f32 / rows as f32);
        let boxes = find_contours(mask.view(), RetrievalMode::External)
            .iter()
            .filter_map(|contour| {
                let points: Vec<PointF> = contour.iter().map(|p| PointF::from_yx(p.y as f32, p.x as f32)).collect();
                // As ocrs does: RTen's hull wants the contour's corners, not every
                // pixel of its straight runs.
                let mut rect = min_area_rect(&simplify_polygon(&points, 1.0))?;
                if rect.width().min(rect.height()) < MIN_SIZE {
                    return None;
                }
                if mean_within(&probability, &rect) < box_threshold {
                    return None;
                }
                let (w, h) = (rect.width(), rect.height());
                let grow = w * h * unclip_ratio / (2.0 * (w + h));
                rect.resize(w + 2.0 * grow, h + 2.0 * grow);
                if rect.width().min(rect.height()) < MIN_SIZE + 2.0 {
                    return None;
                }
                // Network pixels (their centres) back to the image's.
                let corners = rect.corners().map(|c| PointF::from_yx((c.y + 0.5) * sy - 0.5, (c.x + 0.5) * sx - 0.5));
                min_area_rect(&corners)
            })
            .map(|line| {
                // The smallest rectangle comes with either side as its
                // width; a line on an upright page reads along the side
                // nearest to level.
                let line = line.orient_towards(Vec2::from_yx(-1.0, 0.0));
                let center = line.center();
                RotatedRect::new(
                    PointF::from_yx(center.y + top, center.x + left),
                    line.up_axis(),
                    line.width(),
                    line.height(),
                )
            })
            .collect();
        Ok(boxes)
    }
}

/// A line box of text across, more than this many degrees from level, is
/// kept whole.
const MAX_SPLIT_TILT: f32 = 2.0;
/// A run of paper columns at least this much of the line's ink height wide
/// is a word space (letters stand a tenth of it apart, words a third).
const WORD_GAP_HEIGHTS: f32 = 0.3;
/// Ink this much darker than the line's paper (on a 0–255 scale) counts.
const MIN_CONTRAST: u8 = 48;
/// Word boxes grow by this on every side, as ocrs' do.
const WORD_EXPAND: f32 = 3.0;

/// The words of `line` (a line box of `grey`), cut at its word spaces,
/// found in the ink of its columns; a line standing on end or tilted is
/// kept whole.
pub(super) fn words_of_line(grey: &GrayImage, line: RotatedRect) -> Vec<RotatedRect> {
    // The smallest rectangle around a line comes with either side as its
    // width (a level line may say it stands on end, turned by 90°): the
    // tilt is from the nearer axis, and the box's extent tells across from
    // on end.
    let from_vertical = line.up_axis().x.abs().clamp(0.0, 1.0).asin().to_degrees();
    let tilt = from_vertical.min(90.0 - from_vertical);
    let bounds = line.bounding_rect();
    if bounds.width() < bounds.height() || tilt > MAX_SPLIT_TILT {
        return vec![line];
    }
    let (width, height) = grey.dimensions();
    let clamp = |v: f32, max: u32| (v.round().max(0.0) as u32).min(max);
    let (x0, x1) = (clamp(bounds.left(), width), clamp(bounds.right(), width));
    let (y0, y1) = (clamp(bounds.top(), height), clamp(bounds.bottom(), height));
    if x1 <= x0 + 1 || y1 <= y0 + 1 {
        return vec![line];
    }
    let pixel = |x: u32, y: u32| grey.as_raw()[(y * width + x) as usize];
    let (mut darkest, mut palest) = (u8::MAX, u8::MIN);
    for y in y0..y1 {
        for x in x0..x1 {
            darkest = darkest.min(pixel(x, y));
            palest = palest.max(pixel(x, y));
        }
    }
    if palest - darkest < MIN_CONTRAST {
        return vec![line];
    }
    let ink = |x: u32, y: u32| pixel(x, y) < darkest / 2 + palest / 2;
    let inked_rows: Vec<u32> = (y0..y1).filter(|&y| (x0..x1).any(|x| ink(x, y))).collect();
    let (Some(&ink_top), Some(&ink_bottom)) = (inked_rows.first(), inked_rows.last()) else {
        return vec![line];
    };
    let ink_height = (ink_bottom + 1 - ink_top) as f32;
    let min_gap = (WORD_GAP_HEIGHTS * ink_height).max(2.0) as u32;
    let inked_column = |x: u32| (y0..y1).any(|y| ink(x, y));
    // Runs of inked columns, joined across gaps narrower than a space.
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for x in (x0..x1).filter(|&x| inked_column(x)) {
        match runs.last_mut() {
            Some((_, end)) if x - *end <= min_gap => *end = x + 1,
            _ => runs.push((x, x + 1)),
        }
    }
    if runs.len() < 2 {
        return vec![line];
    }
    runs.into_iter()
        .filter_map(|(start, end)| {
            let rows: Vec<u32> = (y0..y1).filter(|&y| (start..end).any(|x| ink(x, y))).collect();
            let (top, bottom) = (*rows.first()? as f32, *rows.last()? as f32 + 1.0);
            let (left, right) = (start as f32 - WORD_EXPAND, end as f32 + WORD_EXPAND);
            let (top, bottom) = (top - WORD_EXPAND, bottom + WORD_EXPAND);
            Some(RotatedRect::from_rect(rten_imageproc::Rect::from_tlbr(top, left, bottom, right)))
        })
        .collect()
}

/// `lines` (line boxes of `page`) cut at the column gutters their words
/// leave: DBNet joins the lines of two columns set a character or two
/// apart, as ocrs' line finding did, and the same whitespace rivers
/// (`gutters`) find them.
pub(super) fn cut_at_gutters(page: &GrayImage, lines: &[RotatedRect]) -> Vec<RotatedRect> {
    // Rows of lines (a row may hold a box per column, or one across them),
    // each row's words together, left to right, as the river finding
    // expects.
    let mut sorted: Vec<RotatedRect> = lines.to_vec();
    sorted.sort_by(|a, b| a.center().y.total_cmp(&b.center().y));
    let mut rows: Vec<Vec<RotatedRect>> = Vec::new();
    for line in sorted {
        match rows.last_mut() {
            Some(row) if line.center().y - row[0].center().y < 0.5 * row[0].bounding_rect().height() => row.push(line),
            _ => rows.push(vec![line]),
        }
    }
    let words: Vec<Vec<RotatedRect>> = rows
        .iter()
        .map(|row| {
            let mut words: Vec<RotatedRect> = row.iter().flat_map(|line| words_of_line(page, *line)).collect();
            words.sort_by(|a, b| a.center().x.total_cmp(&b.center().x));
            words
        })
        .collect();
    let gutters = gutters::find(&words);
    if gutters.is_empty() {
        return lines.to_vec();
    }
    let mut cut = Vec::with_capacity(lines.len());
    for line in lines {
        let bounds = line.bounding_rect();
        let middle = line.center().y;
        let mut cuts: Vec<f32> = gutters
            .iter()
            .filter(|g| g.left > bounds.left() && g.right < bounds.right() && middle >= g.top && middle <= g.bottom)
            .map(|g| (g.left + g.right) / 2.0)
            .collect();
        if cuts.is_empty() {
            cut.push(*line);
            continue;
        }
        cuts.sort_by(f32::total_cmp);
        let mut left = bounds.left();
        for x in cuts.into_iter().chain([bounds.right()]) {
            cut.push(RotatedRect::from_rect(RectF::from_tlbr(bounds.top(), left, bounds.bottom(), x)));
            left = x;
        }
    }
    cut
}

/// The mean probability of the pixels whose centres lie in `rect` (its
/// edges included: the contour runs through the region's outer pixels).
fn mean_within(probability: &NdTensorView<f32, 2>, rect: &RotatedRect) -> f32 {
    let [rows, cols] = probability.shape();
    let edged = rect.expanded(1.0, 1.0);
    let bounds = edged.bounding_rect();
    let (x0, x1) = ((bounds.left().floor().max(0.0)) as usize, (bounds.right().ceil().max(0.0) as usize).min(cols - 1));
    let (y0, y1) = ((bounds.top().floor().max(0.0)) as usize, (bounds.bottom().ceil().max(0.0) as usize).min(rows - 1));
    let (mut sum, mut count) = (0.0f32, 0usize);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if edged.contains(PointF::from_yx(y as f32, x as f32)) {
                sum += probability[[y, x]];
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { sum / count as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_seen_at_most_at_the_largest_side_and_small_crops_enlarged() {
        let max = DbParams::default().max_side;
        assert_eq!(input_size(2480, 3508, max), (896, 1280));
        assert_eq!(input_size(640, 480, max), (640, 480));
        assert_eq!(input_size(500, 40, max), (800, 64), "a line, enlarged to the smallest side");
        assert_eq!(input_size(3000, 20, max), (1280, 32), "within the largest side first");
        assert_eq!(input_size(1, 1, max), (64, 64));
        assert_eq!(input_size(2480, 3508, 1600), (1120, 1600));
    }

    /// A white strip with three dark words, 20 px high and 90 wide, at 20,
    /// 150 and 280.
    fn three_words() -> GrayImage {
        let mut page = GrayImage::from_pixel(400, 60, image::Luma([255]));
        for left in [20u32, 150, 280] {
            for (x, y) in (left..left + 90).flat_map(|x| (20..40).map(move |y| (x, y))) {
                page.put_pixel(x, y, image::Luma([10]));
            }
        }
        page
    }

    #[test]
    fn a_level_line_is_split_into_its_words_whichever_side_its_box_calls_its_width() {
        let page = three_words();
        let center = PointF::from_yx(30.0, 195.0);
        let as_found = RotatedRect::new(center, Vec2::from_yx(-1.0, 0.0), 360.0, 30.0);
        // The same rectangle, its sides named the other way round.
        let turned = RotatedRect::new(center, Vec2::from_yx(0.0, 1.0), 30.0, 360.0);
        for line in [as_found, turned] {
            let words = words_of_line(&page, line);
            let lefts: Vec<f32> = words.iter().map(|w| w.bounding_rect().left() + WORD_EXPAND).collect();
            assert_eq!(lefts, [20.0, 150.0, 280.0], "{line:?}");
        }
        let on_end = RotatedRect::new(center, Vec2::from_yx(-1.0, 0.0), 30.0, 360.0);
        assert_eq!(words_of_line(&page, on_end).len(), 1, "a box standing on end is kept whole");
    }
}
