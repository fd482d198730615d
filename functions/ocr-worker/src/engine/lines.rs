//! Line images for the recogniser: the region a line's words cover, cut out
//! of the page along the words' edges (so ink of neighbouring lines stays
//! out), scaled to the model's height. Follows ocrs' own preparation, from
//! an 8-bit page instead of an f32 copy of it (a quarter of the memory on
//! a 300-dpi page).

use image::GrayImage;
use rten::FloatOperators;
use rten_imageproc::{Line, LineF, Point, PointF, Polygon, Rect, RotatedRect, bounding_rect};
use rten_tensor::NdTensor;
use rten_tensor::prelude::*;

use super::{BLACK, EngineError};

/// ocrs' limits on a resized line's width.
const MIN_WIDTH: f32 = 10.0;
const MAX_WIDTH: f32 = 2400.0;

/// How a recogniser wants its lines cut out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFormat {
    /// The model's input height, in pixels.
    pub height: usize,
    /// Below 1, lines are squeezed horizontally by this much (recognition
    /// time is proportional to width); lines narrower than two heights
    /// are never squeezed.
    pub width_factor: f32,
    /// What the line's box holds outside its words' outline.
    pub outside: Outside,
}

/// What a line image holds outside the outline of its words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outside {
    /// A flat value in `[BLACK, BLACK + 1]` (ocrs was trained on lines cut
    /// out of black): no ink of a neighbouring line comes in.
    Fill(f32),
    /// The page as it is, over the line's whole box, with `margin` of the
    /// line's height more above and below (PaddleOCR's crops: its
    /// recognisers read a punctuation mark or a word that detection
    /// missed between two words, and expect paper around the text).
    Page { margin: f32 },
}

fn sorted_corners(rect: &RotatedRect) -> [PointF; 4] {
    let mut corners = rect.corners();
    corners.sort_by(|a, b| a.x.total_cmp(&b.x));
    corners
}

fn downwards(a: PointF, b: PointF) -> LineF {
    if a.y <= b.y { Line::from_endpoints(a, b) } else { Line::from_endpoints(b, a) }
}

/// A polygon around `words` (ordered left to right) that follows the top
/// and bottom edges of each word.
fn line_polygon(words: &[RotatedRect]) -> Vec<Point> {
    let floor = |p: PointF| Point::from_yx(p.y as i32, p.x as i32);
    let edges: Vec<(LineF, LineF)> = words
        .iter()
        .map(|word| {
            let c = sorted_corners(word);
            (downwards(c[0], c[1]), downwards(c[2], c[3]))
        })
        .collect();
    let mut polygon = Vec::with_capacity(edges.len() * 4);
    for (left, right) in &edges {
        polygon.push(floor(left.start));
        polygon.push(floor(right.start));
    }
    for (left, right) in edges.iter().rev() {
        polygon.push(floor(right.end));
        polygon.push(floor(left.end));
    }
    polygon
}

/// One line, ready for the recogniser.
pub struct LineImage {
    /// `[height, width]`, values in `[BLACK, BLACK + 1]`.
    pub pixels: NdTensor<f32, 2>,
    /// Where the line is in the page.
    pub rect: Rect,
}

impl LineImage {
    /// The line turned by 180 degrees: as it reads if its page was upside
    /// down.
    pub fn turned_over(&self) -> Self {
        let [rows, cols] = self.pixels.shape();
        Self {
            pixels: NdTensor::from_fn([rows, cols], |[y, x]| self.pixels[[rows - 1 - y, cols - 1 - x]]),
            rect: self.rect,
        }
    }
}

/// Cuts out the line made of `words` and scales it as `format` says.
/// `None` for a degenerate (empty) region.
pub fn prepare(page: &GrayImage, words: &[RotatedRect], format: LineFormat) -> Result<Option<LineImage>, EngineError> {
    let Some(bounds) = bounding_rect(words.iter()) else {
        return Ok(None);
    };
    let page_rect = Rect::from_hw(page.height() as i32, page.width() as i32);
    let rect = bounds.integral_bounding_rect().intersection(page_rect);
    if rect.width() <= 0 || rect.height() <= 0 {
        return Ok(None);
    }
    let shade = |x: i32, y: i32| f32::from(page.get_pixel(x as u32, y as u32).0[0]) / 255.0 + BLACK;
    let (rows, cols, region) = match format.outside {
        Outside::Fill(outside) => {
            let (rows, cols) = (rect.height() as usize, rect.width() as usize);
            let mut region = NdTensor::full([1, 1, rows, cols], outside);
            let polygon = Polygon::new(line_polygon(words));
            for p in polygon.fill_iter() {
                if rect.contains_point(p) && p.x < rect.right() && p.y < rect.bottom() {
                    region[[0, 0, (p.y - rect.top()) as usize, (p.x - rect.left()) as usize]] = shade(p.x, p.y);
                }
            }
            (rows, cols, region)
        }
        Outside::Page { margin } => {
            let extra = (rect.height() as f32 * margin).round() as i32;
            let cut = Rect::from_tlbr(rect.top() - extra, rect.left(), rect.bottom() + extra, rect.right())
                .intersection(page_rect);
            let (rows, cols) = (cut.height() as usize, cut.width() as usize);
            let region = NdTensor::from_fn([1, 1, rows, cols], |[_, _, y, x]| {
                shade(cut.left() + x as i32, cut.top() + y as i32)
            });
            (rows, cols, region)
        }
    };
    let height = format.height;
    let natural = (height as f32 * cols as f32 / rows as f32).clamp(MIN_WIDTH, MAX_WIDTH);
    // A line of a character or two is cheap to read, and squeezing makes its
    // only glyph(s) hard to tell from artwork: read it as it is.
    let factor = if natural < 2.0 * height as f32 { 1.0 } else { format.width_factor };
    let width = (natural * factor).max(MIN_WIDTH).round() as usize;
    let resized = region.resize_image([height, width]).map_err(EngineError::model("line resize"))?;
    let pixels: NdTensor<f32, 4> = resized.try_into().map_err(EngineError::output("line resize"))?;
    Ok(Some(LineImage { pixels: pixels.into_shape([height, width]), rect }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rten_imageproc::Vec2;

    #[test]
    fn a_line_is_cut_out_at_the_model_height_and_squeezed_on_request() {
        let mut page = GrayImage::from_pixel(200, 60, image::Luma([255]));
        for x in 20..180 {
            for y in 20..40 {
                page.put_pixel(x, y, image::Luma([0]));
            }
        }
        let word = RotatedRect::new(PointF::from_yx(30.0, 100.0), Vec2::from_yx(1.0, 0.0), 170.0, 30.0);
        let format = LineFormat { height: 64, width_factor: 1.0, outside: Outside::Fill(BLACK) };
        let full = prepare(&page, &[word], format).unwrap().unwrap();
        let squeezed = prepare(&page, &[word], LineFormat { width_factor: 0.5, ..format }).unwrap().unwrap();
        assert_eq!(full.pixels.shape()[0], 64);
        assert_eq!(squeezed.pixels.shape()[1], full.pixels.shape()[1] / 2);
        // Ink (black, the lowest value) in the middle, page (white) around it.
        let middle = full.pixels[[32, full.pixels.shape()[1] / 2]];
        assert!(middle < BLACK + 0.1, "{middle}");
        assert!(full.pixels[[2, full.pixels.shape()[1] / 2]] > BLACK + 0.9);
    }

    #[test]
    fn a_line_outside_the_page_is_skipped() {
        let page = GrayImage::from_pixel(50, 50, image::Luma([255]));
        let word = RotatedRect::new(PointF::from_yx(500.0, 500.0), Vec2::from_yx(1.0, 0.0), 20.0, 10.0);
        let format = LineFormat { height: 48, width_factor: 1.0, outside: Outside::Page { margin: 0.1 } };
        assert!(prepare(&page, &[word], format).unwrap().is_none());
    }
}
