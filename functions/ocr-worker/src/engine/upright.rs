//! Which way up a page is read: turned a quarter when its words run down,
//! deskewed by its ink, turned over when the recogniser reads it with more
//! confidence so (ocrs' models, and PP-OCR's as used here, read upright
//! text only).

use std::borrow::Cow;

use domain::jobs::TextLine;
use image::{DynamicImage, GrayImage};
use imaging::straighten::{MIN_SKEW_DEGREES, Straightening, straighten_gray};
use rten_imageproc::RotatedRect;
use rten_tensor::prelude::*;

use super::lines::LineImage;
use super::recognition::ReadChar;
use super::{EngineError, FastEngine, greyscale, orientation};

impl FastEngine {
    /// Turns the page upright (a quarter turn, then against its skew) and
    /// reads it: the lines' boxes are in the straightened page, which
    /// `imaging::straighten` makes again from the same image.
    ///
    /// The direction of the text comes from the words' shapes (tall words:
    /// sideways), the skew from their lean; whether it is upside down from
    /// the recogniser, which reads upright text with confidence and text
    /// upside down without: when the page's longest lines read with less
    /// than [`CONFIDENT_UPRIGHT`], they are read turned over too, and the
    /// page is turned if that reads clearly better. An upright page whose
    /// text reads confidently costs one look at its word boxes.
    pub fn read_page(&self, image: &DynamicImage) -> Result<PageReading, EngineError> {
        let page = greyscale(image);
        let words = self.detector.detect_words(&page)?;
        if !self.straightens {
            let lines = self.read_words(&page, &words, false)?.0;
            return Ok(PageReading { lines, straightening: Straightening::default() });
        }
        let lean = orientation::Lean::of(&words);
        let quarter = Straightening { rotation: 90, skew_degrees: 0.0 };
        let (rotation, words, quarter_seen) = if lean.is_sideways() {
            (90, self.detector.detect_words(&straighten_gray(&page, quarter))?, true)
        } else if !lean.is_clearly_across() {
            // Unclear (few words found, or as many each way): the page
            // turned a quarter is detected too, and kept if more of its
            // text then runs across.
            let turned_words = self.detector.detect_words(&straighten_gray(&page, quarter))?;
            let turned_lean = orientation::Lean::of(&turned_words);
            tracing::debug!(?lean, ?turned_lean, "sideways check");
            if lean.turned_is_better(&turned_lean) { (90, turned_words, true) } else { (0, words, true) }
        } else {
            (0, words, false)
        };
        let mut reading = self.read_turned(&page, rotation, words)?;
        if !quarter_seen && reading.confidence < DOUBTFUL {
            // Read as garbage both ways up: a wide page turned sideways can
            // look to detection like text across. The other quarter is
            // read too if its words clearly run across more.
            let other = (rotation + 90) % 360;
            let turned = straighten_gray(&page, Straightening { rotation: other, skew_degrees: 0.0 });
            let turned_words = self.detector.detect_words(&turned)?;
            let turned_lean = orientation::Lean::of(&turned_words);
            tracing::debug!(reading.confidence, ?lean, ?turned_lean, "doubtful page");
            if lean.turned_is_better(&turned_lean) {
                let alternative = self.read_turned(&page, other, turned_words)?;
                if alternative.confidence > reading.confidence {
                    reading = alternative;
                }
            }
        }
        Ok(reading.page)
    }

    /// Reads `page` turned by `rotation` (its words `words`, found on the
    /// page so turned): deskewed, and turned over if it reads clearly
    /// better so.
    fn read_turned(&self, page: &GrayImage, rotation: u16, words: Vec<RotatedRect>) -> Result<Candidate, EngineError> {
        let mut how = Straightening { rotation, skew_degrees: 0.0 };
        let mut straight = if rotation == 0 { Cow::Borrowed(page) } else { Cow::Owned(straighten_gray(page, how)) };
        let mut words = words;
        // A long word across says there is a line to measure; its ink says
        // by how much (the words lean less than their lines).
        let line_boxes = self.finds_lines.then_some(&words[..]);
        let skew = if orientation::has_text_across(&words) {
            orientation::projection_skew(&straight, line_boxes)
        } else {
            0.0
        };
        if skew.abs() >= MIN_SKEW_DEGREES {
            how.skew_degrees = (skew * 10.0).round() / 10.0;
            straight = Cow::Owned(straighten_gray(page, how));
            words = self.detect_straightened(&straight, how)?;
        }
        let (mut lines, verdict) = self.read_words(&straight, &words, true)?;
        if verdict.is_upside_down() {
            how.rotation = (how.rotation + 180) % 360;
            straight = Cow::Owned(straighten_gray(page, how));
            words = self.detect_straightened(&straight, how)?;
            lines = self.read_words(&straight, &words, false)?.0;
        }
        Ok(Candidate { page: PageReading { lines, straightening: how }, confidence: verdict.best() })
    }

    /// The words of `page`, straightened as `how` says: a deskewed page
    /// without the blank corners its rotation added.
    fn detect_straightened(&self, page: &GrayImage, how: Straightening) -> Result<Vec<RotatedRect>, EngineError> {
        if how.skew_degrees == 0.0 {
            self.detector.detect_words(page)
        } else {
            self.detector.detect_words_in_content(page)
        }
    }

    /// How confidently the page's longest lines (up to
    /// [`UPSIDE_DOWN_SAMPLE`]) read, and turned over (not tried when they
    /// read confidently).
    pub(super) fn which_way_up(&self, prepared: &[LineImage], read: &[Vec<ReadChar>]) -> Result<WayUp, EngineError> {
        // Long lines in pixels, not in characters read: upside down, a long
        // line may read as a letter or two.
        let width = |i: usize| {
            let [height, width] = prepared[i].pixels.shape();
            width * MIN_SAMPLE_HEIGHT / height.max(1)
        };
        let mut sample: Vec<usize> = (0..read.len()).filter(|&i| width(i) >= MIN_SAMPLE_WIDTH).collect();
        sample.sort_by_key(|&i| std::cmp::Reverse(width(i)));
        sample.truncate(UPSIDE_DOWN_SAMPLE);
        if sample.is_empty() {
            tracing::debug!(lines = read.len(), "upside-down check: no line long enough");
            // Nothing to go by: as confident as can be, so that nothing
            // else is tried.
            return Ok(WayUp { upright: 1.0, turned_over: None });
        }
        // A line read as nothing counts as read with no confidence.
        let mean = |lines: &mut dyn Iterator<Item = &Vec<ReadChar>>| {
            let (sum, count) = lines.fold((0.0, 0), |(s, n), chars| {
                if chars.is_empty() {
                    (s, n + 1)
                } else {
                    (s + chars.iter().map(|c| c.probability).sum::<f32>() / chars.len() as f32, n + 1)
                }
            });
            if count == 0 { 0.0 } else { sum / count as f32 }
        };
        let upright = mean(&mut sample.iter().map(|&i| &read[i]));
        if upright >= CONFIDENT_UPRIGHT {
            tracing::debug!(upright, lines = sample.len(), "upside-down check: reads confidently upright");
            return Ok(WayUp { upright, turned_over: None });
        }
        let turned: Vec<LineImage> = sample.iter().map(|&i| prepared[i].turned_over()).collect();
        let turned_read = self.reader.read(&turned)?;
        let turned_over = mean(&mut turned_read.iter());
        tracing::debug!(upright, turned_over, lines = sample.len(), "upside-down check");
        Ok(WayUp { upright, turned_over: Some(turned_over) })
    }
}

/// How confidently a page's sample of lines reads as it is and turned over.
#[derive(Debug, Clone, Copy)]
pub(super) struct WayUp {
    upright: f32,
    turned_over: Option<f32>,
}

impl Default for WayUp {
    fn default() -> Self {
        Self { upright: 1.0, turned_over: None }
    }
}

impl WayUp {
    pub(super) fn is_upside_down(&self) -> bool {
        self.turned_over.is_some_and(|turned| turned > self.upright + UPSIDE_DOWN_MARGIN)
    }

    pub(super) fn best(&self) -> f32 {
        self.turned_over.map_or(self.upright, |turned| turned.max(self.upright))
    }
}

/// A reading of a page one way up, and how confident its sample was.
struct Candidate {
    page: PageReading,
    confidence: f32,
}

/// A page as the engine read it.
#[derive(Debug, Clone)]
pub struct PageReading {
    pub lines: Vec<TextLine>,
    /// What was done to the page first; the boxes are in the page so turned.
    pub straightening: Straightening,
}

/// Lines narrower than this (at a height of 64, squeezed as ocrs squeezes
/// them: about four characters) say little about which way up they are.
const MIN_SAMPLE_WIDTH: usize = 96;
const MIN_SAMPLE_HEIGHT: usize = 64;
/// How many of a page's longest lines are read turned over when they read
/// without confidence.
const UPSIDE_DOWN_SAMPLE: usize = 6;
/// Mean character probability above which a page's sample counts as
/// upright without further ado.
const CONFIDENT_UPRIGHT: f32 = 0.9;
/// A page whose sample reads under this both ways up is tried a quarter
/// turned too.
const DOUBTFUL: f32 = 0.65;
/// How much better the turned-over sample must read.
const UPSIDE_DOWN_MARGIN: f32 = 0.05;
