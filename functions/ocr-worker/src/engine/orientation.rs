//! Which way a page is turned, and how much it is skewed, from the shapes
//! of its detected words (the suggestion of ocrs' author for its models,
//! which read upright text only, ocrs issue #121): the detector finds text
//! at any angle, and a word is a long, thin box along its line. Sideways
//! pages have tall words; a skewed page's words lean by its skew. Upright
//! and upside down look alike to box shapes: the recogniser tells them
//! apart (see `FastEngine::read_page`).

use image::GrayImage;
use imaging::straighten::MAX_SKEW_DEGREES;
use rten_imageproc::{BoundingRect, RotatedRect};

/// A word counts when its long side is at least this many times its short
/// one: single letters and round blobs say nothing about direction.
const MIN_ELONGATION: f32 = 1.8;
/// Sideways when tall words outweigh wide ones this many times (a page of
/// tables or a form's boxes has some of both).
const SIDEWAYS_MAJORITY: f32 = 2.0;

/// A word's long side: its direction in degrees in (-90, 90] (0 along the
/// image's rows, positive turning clockwise, as y grows downwards), its
/// length, and long/short.
fn long_side(word: &RotatedRect) -> Option<(f32, f32, f32)> {
    let c = word.corners();
    let (a, b) = ((c[1].x - c[0].x, c[1].y - c[0].y), (c[2].x - c[1].x, c[2].y - c[1].y));
    let (la, lb) = (a.0.hypot(a.1), b.0.hypot(b.1));
    let ((dx, dy), long, short) = if la >= lb { (a, la, lb) } else { (b, lb, la) };
    if short <= 0.0 || !long.is_finite() {
        return None;
    }
    let mut angle = dy.atan2(dx).to_degrees();
    if angle <= -90.0 {
        angle += 180.0;
    } else if angle > 90.0 {
        angle -= 180.0;
    }
    Some((angle, long, long / short))
}

/// How much text (the summed length of elongated words) runs across the
/// image and how much down it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lean {
    pub across: f32,
    pub down: f32,
}

impl Lean {
    pub fn of(words: &[RotatedRect]) -> Self {
        let (mut across, mut down) = (0.0f32, 0.0f32);
        for (angle, length, elongation) in words.iter().filter_map(long_side) {
            if elongation < MIN_ELONGATION {
                continue;
            }
            if angle.abs() <= 45.0 { across += length } else { down += length }
        }
        Self { across, down }
    }

    /// The text runs down (or up) the image rather than across.
    pub fn is_sideways(&self) -> bool {
        self.down > SIDEWAYS_MAJORITY * self.across
    }

    /// The text clearly runs across: no need to look at the page turned.
    /// (A page turned sideways that is much wider than tall is squeezed so
    /// hard for detection that its words may be found neither way.)
    pub fn is_clearly_across(&self) -> bool {
        self.across > 0.0 && self.across >= SIDEWAYS_MAJORITY * self.down
    }

    /// The share of the text that runs across.
    pub fn across_share(&self) -> f32 {
        let total = self.across + self.down;
        if total > 0.0 { self.across / total } else { 0.0 }
    }

    /// The page turned a quarter (whose lean is `turned`) reads across
    /// clearly better than as it is: more text found across, and a much
    /// larger share of it.
    pub fn turned_is_better(&self, turned: &Lean) -> bool {
        turned.across > self.across && turned.across_share() > self.across_share() + TURNED_SHARE_MARGIN
    }
}

/// How much larger the share of text across must be on the turned page.
const TURNED_SHARE_MARGIN: f32 = 0.2;

/// Whether any word is a long, thin box running across the page (within
/// the skews measured): a line of text whose skew the ink can tell. A
/// single line counts: detection often finds a clean line as one or two
/// long boxes, and a line turned 10° read as it is loses a word in six.
pub fn has_text_across(words: &[RotatedRect]) -> bool {
    words
        .iter()
        .filter_map(long_side)
        .any(|(angle, _, elongation)| elongation >= MIN_ELONGATION * 1.5 && angle.abs() <= MAX_SKEW_DEGREES)
}

/// Whether each pixel of `page` (row by row) lies in the bounds of one of
/// the `lines` that are long and thin (as [`Lean`] counts them).
fn text_mask(page: &GrayImage, lines: &[RotatedRect]) -> Vec<bool> {
    let (width, height) = (page.width() as usize, page.height() as usize);
    let mut mask = vec![false; width * height];
    let elongated = lines.iter().filter(|w| long_side(w).is_some_and(|(_, _, e)| e >= MIN_ELONGATION));
    for word in elongated {
        let bounds = word.bounding_rect();
        let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
        let (x0, x1) = (clamp(bounds.left().floor(), width), clamp(bounds.right().ceil(), width));
        let (y0, y1) = (clamp(bounds.top().floor(), height), clamp(bounds.bottom().ceil(), height));
        for y in y0..y1 {
            mask[y * width + x0..y * width + x1].fill(true);
        }
    }
    mask
}

/// Word boxes lean less than their lines (a short word's box is nearly as
/// tall as its lean makes it, and the detector sees a shrunken page), so
/// they only say whether there are words to measure: the skew itself is
/// the angle at which the page's ink falls into the sharpest rows (a
/// projection profile), searched over every skew measured, coarsely and
/// then finely around the best. (Searching only near the words' lean
/// missed a single line turned 10°, whose word boxes leaned 6°.)
const COARSE_STEP_DEGREES: f32 = 0.25;
const FINE_STEP_DEGREES: f32 = 0.05;
/// The profile is taken on about this many columns of the page.
const PROFILE_WIDTH: u32 = 1000;

/// The angle in ±[`MAX_SKEW_DEGREES`] at which the ink of `page` lies in
/// the fewest, fullest rows (positive: lines run down to the right); `0`
/// for a page without ink. With `lines` (a line detector's boxes), only
/// the ink inside the long, thin ones counts, told from their paper by its
/// own contrast: the rings, dots and strokes of a cover's artwork fell
/// into sharper rows at a steep angle than the few lines of its title (the
/// title read turned 15°), and line boxes leave them out. Word boxes
/// (ocrs') are measured on the whole page, as they always were: of a
/// page's words only the long ones are thin, too little ink to measure a
/// receipt by (one read 1.15° instead of 0.15°).
pub fn projection_skew(page: &GrayImage, lines: Option<&[RotatedRect]>) -> f32 {
    let step = (page.width() / PROFILE_WIDTH).max(1);
    let points = (0..page.height())
        .step_by(step as usize)
        .flat_map(|y| (0..page.width()).step_by(step as usize).map(move |x| (x, y)));
    let shade = |(x, y): (u32, u32)| page.get_pixel(x, y).0[0];
    let (measured, ink_below): (Vec<(u32, u32)>, u8) = match lines {
        None => (points.collect(), INK),
        Some(lines) => {
            let text = text_mask(page, lines);
            let in_text: Vec<(u32, u32)> = points.filter(|&(x, y)| text[(y * page.width() + x) as usize]).collect();
            let Some(threshold) = ink_threshold(in_text.iter().map(|&p| shade(p))) else {
                return 0.0;
            };
            (in_text, threshold)
        }
    };
    let ink: Vec<(f32, f32)> =
        measured.into_iter().filter(|&p| shade(p) < ink_below).map(|(x, y)| (x as f32, y as f32)).collect();
    if ink.is_empty() {
        return 0.0;
    }
    let rows = (page.width() + page.height()) as usize / step as usize + 2;
    let mut histogram = vec![0u32; rows * 2];
    let mut sharpness = |angle: f32| -> f64 {
        let (sin, cos) = angle.to_radians().sin_cos();
        histogram.iter_mut().for_each(|count| *count = 0);
        for &(x, y) in &ink {
            // The row a point falls in once the page is turned back by `angle`.
            let row = ((y * cos - x * sin) / step as f32).round() as isize + rows as isize;
            if let Some(count) = histogram.get_mut(row.max(0) as usize) {
                *count += 1;
            }
        }
        histogram.iter().map(|&c| f64::from(c) * f64::from(c)).sum()
    };
    let mut sharpest = |angles: Vec<f32>| {
        let scored = angles.into_iter().map(|angle| (sharpness(angle), angle));
        scored.fold((f64::MIN, 0.0), |best, next| if next.0 > best.0 { next } else { best }).1
    };
    let coarse_steps = (MAX_SKEW_DEGREES / COARSE_STEP_DEGREES).round() as i32;
    let coarse = sharpest(nearest_first(coarse_steps).map(|i| i as f32 * COARSE_STEP_DEGREES).collect());
    let fine_steps = (COARSE_STEP_DEGREES / FINE_STEP_DEGREES).round() as i32;
    sharpest(
        nearest_first(fine_steps)
            .map(|i| coarse + i as f32 * FINE_STEP_DEGREES)
            .filter(|angle| angle.abs() <= MAX_SKEW_DEGREES)
            .collect(),
    )
}

/// 0, 1, -1, 2, -2 … `steps`, -`steps`: the angles searched nearest to the
/// centre first, so that among equally sharp angles the least turn wins.
fn nearest_first(steps: i32) -> impl Iterator<Item = i32> {
    std::iter::once(0).chain((1..=steps).flat_map(|i| [i, -i]))
}

/// Darker than this is ink, on a whole page.
const INK: u8 = 128;

/// In line boxes, ink is what is darker than halfway between their darkest
/// shades (this share of their pixels is darker)...
const DARKEST_SHARE: f32 = 0.01;
/// ...and their paper (their median shade: most of a text box is paper),
/// when the two differ by at least this much. A fixed threshold found no
/// ink in a receipt's faded grey print, and the few specks it did find
/// made a level receipt look skewed 9.5°.
const MIN_INK_CONTRAST: u8 = 40;

/// The shade under which a pixel is ink, among `shades` (of text boxes);
/// `None` when they hold no text to tell from paper.
fn ink_threshold(shades: impl Iterator<Item = u8>) -> Option<u8> {
    let mut histogram = [0usize; 256];
    let mut count = 0usize;
    for shade in shades {
        histogram[usize::from(shade)] += 1;
        count += 1;
    }
    let shade_at = |share: f32| {
        let rank = ((count as f32 * share) as usize).min(count.saturating_sub(1));
        let mut seen = 0;
        histogram.iter().position(|&n| {
            seen += n;
            seen > rank
        })
    };
    let (darkest, paper) = (shade_at(DARKEST_SHARE)?, shade_at(0.5)?);
    (paper >= darkest + usize::from(MIN_INK_CONTRAST)).then(|| ((darkest + paper) / 2) as u8)
}

#[cfg(test)]
mod tests {
    use rten_imageproc::{PointF, RectF, Vec2};

    use super::*;

    fn word(cx: f32, cy: f32, long: f32, short: f32, degrees: f32) -> RotatedRect {
        let (sin, cos) = degrees.to_radians().sin_cos();
        // `up_axis` is perpendicular to the word's long side.
        RotatedRect::new(PointF::from_yx(cy, cx), Vec2::from_yx(-cos, sin), long, short)
    }

    #[test]
    fn wide_words_are_across_tall_ones_down_and_squares_say_nothing() {
        let across: Vec<_> = (0..10).map(|i| word(100.0, 20.0 * i as f32, 80.0, 20.0, 0.0)).collect();
        let is_sideways = |words: &[RotatedRect]| Lean::of(words).is_sideways();
        assert!(!is_sideways(&across));
        let down: Vec<_> = (0..10).map(|i| word(20.0 * i as f32, 100.0, 80.0, 20.0, 90.0)).collect();
        assert!(is_sideways(&down));
        let squares: Vec<_> = (0..10).map(|i| word(20.0 * i as f32, 100.0, 20.0, 20.0, 90.0)).collect();
        assert!(!is_sideways(&squares));
        assert!(!is_sideways(&[]));
        assert!(Lean::of(&across).is_clearly_across() && !Lean::of(&squares).is_clearly_across());
    }

    #[test]
    fn a_squeezed_sideways_page_is_turned_when_its_turn_reads_across() {
        // Detection on a wide page squeezed for the network finds words
        // both ways; the page turned finds them across.
        let mixed = Lean { across: 3000.0, down: 2600.0 };
        assert!(mixed.turned_is_better(&Lean { across: 4800.0, down: 200.0 }));
        assert!(!mixed.turned_is_better(&Lean { across: 2000.0, down: 100.0 }), "less text found");
        assert!(!mixed.turned_is_better(&Lean { across: 3300.0, down: 2500.0 }), "no clearer");
    }

    #[test]
    fn one_long_thin_word_across_is_a_line_to_measure_a_round_or_upright_one_is_not() {
        assert!(has_text_across(&[word(0.0, 0.0, 300.0, 30.0, 4.0)]), "a line found as one box");
        assert!(has_text_across(&[word(0.0, 0.0, 300.0, 30.0, -12.0)]));
        assert!(!has_text_across(&[word(0.0, 0.0, 40.0, 30.0, 0.0)]), "a blob");
        assert!(!has_text_across(&[word(0.0, 0.0, 300.0, 30.0, 40.0)]), "steeper than any skew");
        assert!(!has_text_across(&[word(0.0, 0.0, 300.0, 30.0, 90.0)]), "down the page");
        assert!(!has_text_across(&[]));
    }

    /// Lines of word-like bars of `shade` on white paper.
    fn bars_of(width: u32, height: u32, lines: u32, shade: u8) -> image::DynamicImage {
        let mut page = GrayImage::from_pixel(width, height, image::Luma([255]));
        for line in 0..lines {
            let top = 40 + line * 36;
            for left in (30..width - 70).step_by(55) {
                for (x, y) in (left..left + 40).flat_map(|x| (top..top + 12).map(move |y| (x, y))) {
                    page.put_pixel(x, y, image::Luma([shade]));
                }
            }
        }
        image::DynamicImage::ImageLuma8(page)
    }

    fn bars(width: u32, height: u32, lines: u32) -> image::DynamicImage {
        bars_of(width, height, lines, 20)
    }

    /// One line box over all of `page`.
    fn all_of(page: &GrayImage) -> [RotatedRect; 1] {
        [RotatedRect::from_rect(RectF::from_tlbr(0.0, 0.0, page.height() as f32, 10.0 * page.width() as f32))]
    }

    #[test]
    fn the_skew_is_where_the_ink_falls_into_the_sharpest_rows_even_for_one_line() {
        for (page, name) in [(bars(900, 500, 12), "page"), (bars(1400, 100, 1), "one line")] {
            for degrees in [-10.0f32, -3.0, 0.0, 0.8, 2.5, 6.0, 10.0, 14.0] {
                let turned = imaging::straighten::turned_by(&page, degrees).to_luma8();
                let found = projection_skew(&turned, None);
                assert!((found - degrees).abs() <= 0.1, "{name} turned {degrees}°: {found}");
            }
        }
        assert_eq!(projection_skew(&GrayImage::from_pixel(50, 50, image::Luma([255])), None), 0.0, "no ink");
        let mut speck = GrayImage::from_pixel(50, 50, image::Luma([255]));
        speck.put_pixel(20, 20, image::Luma([0]));
        assert_eq!(projection_skew(&speck, None), 0.0, "a speck has no direction");
    }

    #[test]
    fn in_line_boxes_faint_print_is_ink_and_nothing_outside_them_counts() {
        // Faded print (grey 200 on white) is no ink to a fixed threshold.
        for degrees in [-6.0f32, 0.0, 2.5, 10.0] {
            let turned = imaging::straighten::turned_by(&bars_of(900, 500, 12, 200), degrees).to_luma8();
            let found = projection_skew(&turned, Some(&all_of(&turned)));
            assert!((found - degrees).abs() <= 0.1, "faint print turned {degrees}°: {found}");
        }
        // One level line of text under artwork: long dark strokes at 12°.
        let mut page = bars(900, 500, 1).to_luma8();
        for stroke in 0..12u32 {
            for t in 0..700u32 {
                let (x, y) = (100 + t, 120 + stroke * 30 + (t as f32 * 12f32.to_radians().tan()) as u32);
                for dy in 0..8 {
                    if y + dy < 500 {
                        page.put_pixel(x, y + dy, image::Luma([30]));
                    }
                }
            }
        }
        let line = [RotatedRect::from_rect(RectF::from_tlbr(34.0, 20.0, 58.0, 880.0))];
        assert!(projection_skew(&page, None).abs() > 5.0, "the artwork decides on the whole page");
        assert_eq!(projection_skew(&page, Some(&line)), 0.0, "the line box's ink alone");
        assert_eq!(projection_skew(&page, Some(&[])), 0.0, "no line to measure");
        let blank = GrayImage::from_pixel(200, 50, image::Luma([255]));
        assert_eq!(projection_skew(&blank, Some(&all_of(&blank))), 0.0, "paper only");
    }
}
