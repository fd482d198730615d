//! Which way a page is turned, and how much it is skewed, from the shapes
//! of its detected words (the suggestion of ocrs' author for its models,
//! which read upright text only, ocrs issue #121): the detector finds text
//! at any angle, and a word is a long, thin box along its line. Sideways
//! pages have tall words; a skewed page's words lean by its skew. Upright
//! and upside down look alike to box shapes: the recogniser tells them
//! apart (see `FastEngine::read_page`).

use image::GrayImage;
use rten_imageproc::RotatedRect;
use shared::imaging::straighten::MAX_SKEW_DEGREES;

/// A word counts when its long side is at least this many times its short
/// one: single letters and round blobs say nothing about direction.
const MIN_ELONGATION: f32 = 1.8;
/// Sideways when tall words outweigh wide ones this many times (a page of
/// tables or a form's boxes has some of both).
const SIDEWAYS_MAJORITY: f32 = 2.0;
/// A skew is measured from at least this many words that agree.
const MIN_SKEW_WORDS: usize = 3;

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

/// The page's skew in degrees (positive: lines run down to the right), the
/// length-weighted median of its elongated words' directions; `0` when too
/// few words agree.
pub fn skew_degrees(words: &[RotatedRect]) -> f32 {
    let mut leaning: Vec<(f32, f32)> = words
        .iter()
        .filter_map(long_side)
        .filter(|&(angle, _, elongation)| elongation >= MIN_ELONGATION * 1.5 && angle.abs() <= MAX_SKEW_DEGREES)
        .map(|(angle, length, _)| (angle, length))
        .collect();
    if leaning.len() < MIN_SKEW_WORDS {
        return 0.0;
    }
    leaning.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = leaning.iter().map(|w| w.1).sum::<f32>() / 2.0;
    let mut seen = 0.0;
    for (angle, length) in leaning {
        seen += length;
        if seen >= half {
            return angle;
        }
    }
    0.0
}

/// Word boxes lean less than their lines (a short word's box is nearly as
/// tall as its lean makes it, and the detector sees a shrunken page): the
/// skew is refined around their estimate by a projection profile, the
/// angle at which the page's ink falls into the sharpest rows.
const REFINE_RANGE_DEGREES: f32 = 4.0;
const REFINE_STEP_DEGREES: f32 = 0.1;
/// The profile is taken on about this many columns of the page.
const PROFILE_WIDTH: u32 = 1000;

/// The angle within [`REFINE_RANGE_DEGREES`] of `estimate` at which the
/// ink of `page` lies in the fewest, fullest rows.
pub fn refine_skew(page: &GrayImage, estimate: f32) -> f32 {
    let step = (page.width() / PROFILE_WIDTH).max(1);
    let ink: Vec<(f32, f32)> = (0..page.height())
        .step_by(step as usize)
        .flat_map(|y| (0..page.width()).step_by(step as usize).map(move |x| (x, y)))
        .filter(|&(x, y)| page.get_pixel(x, y).0[0] < INK)
        .map(|(x, y)| (x as f32, y as f32))
        .collect();
    if ink.is_empty() {
        return estimate;
    }
    let rows = (page.width() + page.height()) as usize / step as usize + 2;
    let mut histogram = vec![0u32; rows * 2];
    let steps = (2.0 * REFINE_RANGE_DEGREES / REFINE_STEP_DEGREES).round() as i32;
    let mut best = (f64::MIN, estimate);
    for i in 0..=steps {
        let angle = estimate - REFINE_RANGE_DEGREES + i as f32 * REFINE_STEP_DEGREES;
        if angle.abs() > MAX_SKEW_DEGREES {
            continue;
        }
        let (sin, cos) = angle.to_radians().sin_cos();
        histogram.iter_mut().for_each(|count| *count = 0);
        for &(x, y) in &ink {
            // The row a point falls in once the page is turned back by `angle`.
            let row = ((y * cos - x * sin) / step as f32).round() as isize + rows as isize;
            if let Some(count) = histogram.get_mut(row.max(0) as usize) {
                *count += 1;
            }
        }
        let sharpness: f64 = histogram.iter().map(|&c| f64::from(c) * f64::from(c)).sum();
        if sharpness > best.0 {
            best = (sharpness, angle);
        }
    }
    best.1
}

/// Darker than this is ink.
const INK: u8 = 128;

#[cfg(test)]
mod tests {
    use rten_imageproc::{PointF, Vec2};

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
    fn the_skew_is_the_words_lean() {
        for degrees in [-10.0f32, -3.0, 0.0, 2.5, 6.0] {
            let mut words: Vec<_> = (0..12).map(|i| word(200.0, 30.0 * i as f32, 120.0, 20.0, degrees)).collect();
            // A few stray boxes (a rule, a picture) do not move the median.
            words.push(word(50.0, 50.0, 300.0, 10.0, 30.0));
            words.push(word(50.0, 50.0, 40.0, 35.0, -40.0));
            let found = skew_degrees(&words);
            assert!((found - degrees).abs() < 0.05, "{degrees}: {found}");
        }
        assert_eq!(skew_degrees(&[word(0.0, 0.0, 100.0, 10.0, 4.0)]), 0.0, "one word is no evidence");
    }
}
