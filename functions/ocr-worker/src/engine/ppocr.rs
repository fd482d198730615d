//! PaddleOCR's PP-OCRv6 small recogniser (as RapidOCR ships it in ONNX,
//! derived by `models/derive_ppocr.py`): line images 48 px high, grey
//! repeated in three channels and normalised to [-1, 1], read in batches
//! of similar width padded with zeros (PaddleOCR's own batching), one
//! output step per 8 columns, CTC over an 18,708-character dictionary and a
//! space: Latin with its accents, Greek, Cyrillic, CJK, symbols (€ £ § °).

use rten::Model;
use rten_tensor::NdTensor;
use rten_tensor::prelude::*;

use super::EngineError;
use super::lines::{LineFormat, LineImage, Outside};
use super::recognition::{LineRecognizer, ReadChar, greedy_ctc};

/// The model's input height.
const HEIGHT: usize = 48;
/// Lines per run, as PaddleOCR and RapidOCR batch them.
const BATCH: usize = 6;
/// Lines are cut out with the page around them, this much of their height
/// more above and below. On 8 forms, 10 receipts and 15 lines of
/// `ocr-dev` (case-folded CER): lines masked to their words' outline on
/// white 0.201 / 0.093 / 0.009; the page with no margin 0.197 / 0.095;
/// 0.1: 0.201 / 0.083 / 0.009; 0.25: 0.215 / 0.080.
const MARGIN: f32 = 0.1;
/// Unlike ocrs', this model reads squeezed lines worse, and not faster in
/// all (same 33 items: 0.8 → CER 0.139 against 0.138, 0.65 → 0.156).
const WIDTH_FACTOR: f32 = 1.0;

pub struct PpReader {
    model: Model,
    /// Label `i + 1` is `alphabet[i]`; label 0 is CTC's blank.
    alphabet: Vec<char>,
}

impl PpReader {
    /// The model and its dictionary (one character a line; the model's
    /// last label, after them, is a space).
    pub fn new(model: Model, dictionary: &str) -> Result<Self, EngineError> {
        let mut alphabet = Vec::new();
        for (n, entry) in dictionary.lines().enumerate() {
            let mut chars = entry.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) => alphabet.push(ch),
                _ => {
                    return Err(EngineError::Unexpected(format!(
                        "dictionary line {}: {entry:?} is not one character",
                        n + 1
                    )));
                }
            }
        }
        alphabet.push(' ');
        Ok(Self { model, alphabet })
    }

    /// The model's probabilities `[lines, steps, labels]` for a batch of
    /// lines, each padded on the right to the widest.
    fn run(&self, lines: &[&LineImage]) -> Result<NdTensor<f32, 3>, EngineError> {
        let widest = lines.iter().map(|l| l.pixels.size(1)).max().unwrap_or(1);
        let mut batch = NdTensor::zeros([lines.len(), 3, HEIGHT, widest]);
        for (n, line) in lines.iter().enumerate() {
            let width = line.pixels.size(1);
            // [BLACK, BLACK + 1] = [-0.5, 0.5] → PaddleOCR's [-1, 1].
            let normalised = line.pixels.map(|p| 2.0 * p);
            for channel in 0..3 {
                batch.slice_mut((n, channel, .., ..width)).copy_from(&normalised);
            }
        }
        let output = self.model.run_one(batch.view().into(), None).map_err(EngineError::model("PP-OCR recognition"))?;
        let probs: NdTensor<f32, 3> = output.try_into().map_err(EngineError::output("PP-OCR recognition"))?;
        if probs.size(2) != self.alphabet.len() + 1 {
            return Err(EngineError::Unexpected(format!(
                "PP-OCR recognition gave {} labels for a dictionary of {}",
                probs.size(2),
                self.alphabet.len()
            )));
        }
        Ok(probs)
    }
}

/// A gap between two characters wider than this share of the line's
/// height is a word break, whether or not the model read a space there.
/// `ocr-dev`, 8 forms / 10 receipts / 15 lines, CER (receipts case-folded):
/// none 0.205 / 0.083 / 0.009; 0.6: 0.209 / 0.091 / 0.013 (breaks inside
/// words); 1.0: 0.201 / 0.080 / 0.009; 1.5: 0.202 / 0.080 / 0.009.
const WORD_GAP: f32 = 1.0;

/// `chars` with a space wherever two characters stand further apart than
/// [`WORD_GAP`] without one: the model was trained on crops of single
/// text boxes, and reads a label and its value far to the right ("Name:
/// Ada", "Milk 1L  1.29") as one word.
fn spaced(chars: Vec<ReadChar>, line_height: i32) -> Vec<ReadChar> {
    let gap = WORD_GAP * line_height as f32;
    let mut spaced: Vec<ReadChar> = Vec::with_capacity(chars.len());
    for ch in chars {
        if let Some(previous) = spaced.last()
            && previous.ch != ' '
            && ch.ch != ' '
            && (ch.left - previous.right) as f32 > gap
        {
            let space = ReadChar {
                ch: ' ',
                left: previous.right,
                right: ch.left,
                probability: previous.probability.min(ch.probability),
            };
            spaced.push(space);
        }
        spaced.push(ch);
    }
    spaced
}

impl LineRecognizer for PpReader {
    fn format(&self) -> LineFormat {
        LineFormat { height: HEIGHT, width_factor: WIDTH_FACTOR, outside: Outside::Page { margin: MARGIN } }
    }

    fn read(&self, lines: &[LineImage]) -> Result<Vec<Vec<ReadChar>>, EngineError> {
        let started = std::time::Instant::now();
        let mut by_width: Vec<usize> = (0..lines.len()).collect();
        by_width.sort_by_key(|&i| lines[i].pixels.size(1));
        let mut read = vec![Vec::new(); lines.len()];
        for batch in by_width.chunks(BATCH) {
            let images: Vec<&LineImage> = batch.iter().map(|&i| &lines[i]).collect();
            let probs = self.run(&images)?;
            let widest = images.iter().map(|l| l.pixels.size(1)).max().unwrap_or(1);
            for (n, &i) in batch.iter().enumerate() {
                // The line's own steps; the rest read its padding.
                let steps = (probs.size(1) * lines[i].pixels.size(1)).div_ceil(widest).min(probs.size(1));
                let chars = greedy_ctc(probs.slice((n, ..steps, ..)), &lines[i], |label| {
                    self.alphabet.get(label - 1).copied().unwrap_or('\u{fffd}')
                });
                read[i] = spaced(chars, lines[i].rect.height());
            }
        }
        tracing::debug!(
            lines = lines.len(),
            columns = lines.iter().map(|l| l.pixels.size(1)).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64,
            "PP-OCR recognition"
        );
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ch: char, left: i32) -> ReadChar {
        ReadChar { ch, left, right: left + 8, probability: 0.9 }
    }

    #[test]
    fn a_wide_gap_without_a_space_is_a_word_break() {
        let read = |chars: Vec<ReadChar>| spaced(chars, 40).into_iter().map(|c| c.ch).collect::<String>();
        // Letters of a word 10 to 16 px apart, a label's value 56 px on
        // (a line 40 px high).
        assert_eq!(read(vec![at('N', 0), at('o', 10), at(':', 26), at('A', 90), at('d', 100)]), "No: Ad");
        assert_eq!(read(vec![at('N', 0), at('o', 40)]), "No", "32 px: not yet a break");
        // A space read already is not doubled.
        assert_eq!(read(vec![at('a', 0), at(' ', 40), at('b', 80)]), "a b");
    }

    #[test]
    fn a_dictionary_entry_of_more_than_one_character_is_refused() {
        let model = Model::load_static_slice(super::super::PPOCR_RECOGNITION_MODEL).unwrap();
        let Err(err) = PpReader::new(model, "a\nbc\n") else { panic!("accepted") };
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
