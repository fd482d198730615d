//! From a page's text boxes to its lines: put in reading order, cut out,
//! recognised, joined into rows, each word with its box and confidence,
//! noise dropped.

use domain::jobs::{BoundingBox, TextLine, Word};
use image::GrayImage;
use rten_imageproc::{Rect, RotatedRect};

use super::layout::{self, Fragment};
use super::params::EngineParams;
use super::recognition::ReadChar;
use super::upright::WayUp;
use super::{EngineError, FastEngine, db, lines, reading_order};

// Lines whose mean character probability is below
// `EngineParams::min_line_confidence` (0.5) are dropped: on pictures,
// detection finds "words" in artwork, and the recogniser reads them as a
// letter or two with low probability, while real text reads at 0.9 or more
// (see the ocr_quality tests). Very short lines (at most
// `SHORT_LINE_CHARS`) must be surer still (`min_short_line_confidence`,
// 0.97): rings and strokes in the cover fixture read as "C", "00" or "/"
// at up to 0.96; a lone page number or letter reads at 0.999 (short lines
// are read unsqueezed, see `lines`).
const SHORT_LINE_CHARS: usize = 2;

impl FastEngine {
    /// The lines of an upright page made of `words`, and (if asked) whether
    /// they read better upside down.
    pub(super) fn read_words(
        &self,
        page: &GrayImage,
        words: &[RotatedRect],
        check_upside_down: bool,
    ) -> Result<(Vec<TextLine>, WayUp), EngineError> {
        let started = std::time::Instant::now();
        // Line detection: the lines in reading order, each row (lines side
        // by side) marked; word detection: ocrs' line finding, whose rows
        // `layout` joins after reading.
        let (fragments, row_of): (Vec<Vec<RotatedRect>>, Option<Vec<usize>>) = if self.finds_lines {
            let (mut fragments, mut row_of) = (Vec::new(), Vec::new());
            for (row, lines) in reading_order::order(&db::cut_at_gutters(page, words)).into_iter().enumerate() {
                for line in lines {
                    fragments.push(vec![line]);
                    row_of.push(row);
                }
            }
            (fragments, Some(row_of))
        } else {
            (self.find_lines(words)?.into_iter().filter(|line| !line.is_empty()).collect(), None)
        };

        let mut prepared = Vec::with_capacity(fragments.len());
        let mut prepared_rows = Vec::with_capacity(fragments.len());
        for (i, fragment) in fragments.iter().enumerate() {
            if let Some(line) = lines::prepare(page, fragment, self.reader.format())? {
                prepared.push(line);
                prepared_rows.extend(row_of.as_ref().map(|rows| rows[i]));
            }
        }
        let laid_out = started.elapsed();
        let read = self.reader.read(&prepared)?;
        let way_up = if check_upside_down { self.which_way_up(&prepared, &read)? } else { WayUp::default() };
        tracing::debug!(
            words = words.len(),
            lines = prepared.len(),
            layout_ms = laid_out.as_millis() as u64,
            recognition_ms = (started.elapsed() - laid_out).as_millis() as u64,
            "engine stages"
        );
        // Words as read, not as detected: detection may see two close
        // words as one.
        let shapes: Vec<Fragment> = read
            .iter()
            .zip(&prepared)
            .map(|(chars, line)| Fragment { rect: line.rect, words: words_of(chars).count() })
            .collect();
        let rows = match row_of {
            Some(_) => prepared_rows
                .chunk_by(|a, b| a == b)
                .scan(0, |start, row| {
                    let members: Vec<usize> = (*start..*start + row.len()).collect();
                    *start += row.len();
                    Some(members)
                })
                .collect(),
            None => layout::rows(&shapes),
        };
        let lines = rows
            .into_iter()
            .filter_map(|row| text_line(row.iter().map(|&i| (&read[i][..], prepared[i].rect))))
            .filter(|line| self.params.keeps(line))
            .collect();
        Ok((lines, way_up))
    }
}

fn bounding_box(rect: Rect) -> BoundingBox {
    BoundingBox {
        x: rect.left(),
        y: rect.top(),
        width: rect.width().max(0) as u32,
        height: rect.height().max(0) as u32,
    }
}

/// The words of a recognised line: runs of characters between spaces.
fn words_of(chars: &[ReadChar]) -> impl Iterator<Item = &[ReadChar]> {
    chars.split(|c| c.ch == ' ').filter(|word| !word.is_empty())
}

fn mean_probability(chars: &[&ReadChar]) -> f32 {
    if chars.is_empty() { 0.0 } else { chars.iter().map(|c| c.probability).sum::<f32>() / chars.len() as f32 }
}

/// Rounded to 3 decimals: more digits are noise, and cost bytes in stored results.
fn round3(value: f32) -> f32 {
    (value * 1000.0).round() / 1000.0
}

/// One output line from the fragments of a row: their words, in order,
/// with boxes and confidences.
fn text_line<'a>(fragments: impl Iterator<Item = (&'a [ReadChar], Rect)>) -> Option<TextLine> {
    let mut words = Vec::new();
    let mut all_chars: Vec<&ReadChar> = Vec::new();
    let mut bounds: Option<Rect> = None;
    for (chars, rect) in fragments {
        bounds = Some(bounds.map_or(rect, |b| b.union(rect)));
        for word in words_of(chars) {
            let refs: Vec<&ReadChar> = word.iter().collect();
            let left = word.first().map_or(rect.left(), |c| c.left).max(rect.left());
            let right = word.last().map_or(rect.right(), |c| c.right).min(rect.right()).max(left);
            words.push(Word {
                text: word.iter().map(|c| c.ch).collect(),
                bbox: bounding_box(Rect::from_tlbr(rect.top(), left, rect.bottom(), right)),
                confidence: round3(mean_probability(&refs)),
            });
            all_chars.extend(refs);
        }
    }
    if words.is_empty() {
        return None;
    }
    Some(TextLine {
        text: words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "),
        bbox: bounding_box(bounds?),
        confidence: round3(mean_probability(&all_chars)),
        words,
    })
}

impl EngineParams {
    /// Whether a line is text rather than noise read from pictures.
    pub fn keeps(&self, line: &TextLine) -> bool {
        let chars = line.text.chars().filter(|c| !c.is_whitespace()).count();
        let threshold =
            if chars <= SHORT_LINE_CHARS { self.min_short_line_confidence } else { self.min_line_confidence };
        let keep = line.confidence >= threshold;
        if !keep {
            tracing::debug!(text = line.text, confidence = line.confidence, bbox = ?line.bbox, "line dropped as noise");
        }
        keep
    }
}
