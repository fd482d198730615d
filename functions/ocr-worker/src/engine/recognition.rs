//! Line recognition with the split model: the int8 CNN runs one line at a
//! time (RTen's quantized convolution is only right at batch size 1), the
//! f32 recurrent part on small batches of lines of similar length (its
//! steps are memory-bound and gain from batching). Greedy CTC decoding keeps
//! each character's probability, which the confidences are made of.

use rten::Model;
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, NdTensorView};

use super::lines::{LineFormat, LineImage, Outside};
use super::{BLACK, EngineError};

/// A line recogniser: reads line images cut out as its [`LineFormat`]
/// says, each into characters with positions and probabilities. The
/// engine's detection, layout, orientation and confidences work the same
/// over any of them.
pub trait LineRecognizer: Send + Sync {
    fn format(&self) -> LineFormat;
    /// Reads every line; the result is in the order of `lines`.
    fn read(&self, lines: &[LineImage]) -> Result<Vec<Vec<ReadChar>>, EngineError>;
}

/// The ocrs model's input height.
const LINE_HEIGHT: usize = 64;
/// How much line images are squeezed horizontally before recognition:
/// recognition time is proportional to width, and the model still reads
/// squeezed text well. ocr-bench over its 16 images: 0.75 → aggregate CER
/// 0.0035, 0.65 → 0.0052, 0.6 → 0.0059, 0.55 → 0.0063, against 0.037 for
/// stock ocrs and 0.030 for Tesseract; 0.6 takes ~20% less time than 0.75.
const WIDTH_FACTOR: f32 = 0.6;

/// The official model's alphabet; label 0 is CTC's blank, label `i + 1` is
/// `ALPHABET[i]` (the "E" before "ABCDE" stands for €, as in ocrs).
const ALPHABET: &str =
    " 0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~EABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const FEATURES: usize = 128;
/// Lines per run of the recurrent part. On the 300-dpi page (89 lines) the
/// GRUs took 2.2 s one line at a time, 1.36 s by 4, and no less by 8 or 16.
const RNN_BATCH: usize = 4;

/// One recognised character: where it is along the line (page x
/// coordinates) and how sure the model was.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadChar {
    pub ch: char,
    pub left: i32,
    pub right: i32,
    pub probability: f32,
}

pub struct LineReader {
    cnn: Model,
    rnn: Model,
    alphabet: Vec<char>,
    /// The CNN's output for a column of padding: what batched lines are
    /// padded with, as if each had been padded before the CNN.
    padding_features: [f32; FEATURES],
}

impl LineReader {
    pub fn new(cnn: Model, rnn: Model) -> Result<Self, EngineError> {
        let mut reader = Self { cnn, rnn, alphabet: ALPHABET.chars().collect(), padding_features: [0.0; FEATURES] };
        let blank =
            LineImage { pixels: NdTensor::full([LINE_HEIGHT, 64], BLACK), rect: rten_imageproc::Rect::from_hw(1, 1) };
        let features = reader.features(&blank)?;
        let middle = features.size(1) / 2;
        for (i, value) in reader.padding_features.iter_mut().enumerate() {
            *value = features[[i, middle]];
        }
        Ok(reader)
    }

    /// The CNN's `[FEATURES, steps]` output for one line.
    fn features(&self, line: &LineImage) -> Result<NdTensor<f32, 2>, EngineError> {
        let width = line.pixels.size(1);
        let input = line.pixels.view().reshaped([1, 1, LINE_HEIGHT, width]);
        let output = self.cnn.run_one(input.view().into(), None).map_err(EngineError::model("recognition CNN"))?;
        let features: NdTensor<f32, 4> = output.try_into().map_err(EngineError::output("recognition CNN"))?;
        let steps = features.size(3);
        if features.size(1) != FEATURES {
            return Err(EngineError::Unexpected(format!("recognition CNN gave {} features", features.size(1))));
        }
        Ok(features.into_shape([FEATURES, steps]))
    }

    /// Log-probabilities `[steps, labels]` for each of `features`.
    fn sequences(&self, features: &[&NdTensor<f32, 2>]) -> Result<Vec<NdTensor<f32, 2>>, EngineError> {
        let longest = features.iter().map(|f| f.size(1)).max().unwrap_or(0);
        let mut batch =
            NdTensor::from_fn([features.len(), FEATURES, 1, longest], |[_, c, _, _]| self.padding_features[c]);
        for (n, line) in features.iter().enumerate() {
            batch.slice_mut((n, .., 0, ..line.size(1))).copy_from(line);
        }
        let output = self.rnn.run_one(batch.view().into(), None).map_err(EngineError::model("recognition RNN"))?;
        let log_probs: NdTensor<f32, 3> = output.try_into().map_err(EngineError::output("recognition RNN"))?;
        if log_probs.size(2) != self.alphabet.len() + 1 {
            return Err(EngineError::Unexpected(format!("recognition gave {} labels", log_probs.size(2))));
        }
        Ok(features.iter().enumerate().map(|(n, line)| log_probs.slice((..line.size(1), n, ..)).to_tensor()).collect())
    }
}

impl LineRecognizer for LineReader {
    fn format(&self) -> LineFormat {
        // ocrs cuts lines out of a black canvas.
        LineFormat { height: LINE_HEIGHT, width_factor: WIDTH_FACTOR, outside: Outside::Fill(BLACK) }
    }

    fn read(&self, lines: &[LineImage]) -> Result<Vec<Vec<ReadChar>>, EngineError> {
        let started = std::time::Instant::now();
        let features = lines.iter().map(|line| self.features(line)).collect::<Result<Vec<_>, _>>()?;
        let cnn_done = started.elapsed();
        let mut by_length: Vec<usize> = (0..lines.len()).collect();
        by_length.sort_by_key(|&i| features[i].size(1));
        let mut read = vec![Vec::new(); lines.len()];
        for batch in by_length.chunks(RNN_BATCH) {
            let inputs: Vec<&NdTensor<f32, 2>> = batch.iter().map(|&i| &features[i]).collect();
            for (&i, log_probs) in batch.iter().zip(self.sequences(&inputs)?) {
                read[i] = greedy_ctc(log_probs.map(|p| p.exp()).view(), &lines[i], |label| {
                    self.alphabet.get(label - 1).copied().unwrap_or('?')
                });
            }
        }
        tracing::debug!(
            lines = lines.len(),
            columns = lines.iter().map(|l| l.pixels.size(1)).sum::<usize>(),
            cnn_ms = cnn_done.as_millis() as u64,
            rnn_ms = (started.elapsed() - cnn_done).as_millis() as u64,
            "recognition stages"
        );
        Ok(read)
    }
}

/// Greedy CTC decoding of `probs` (`[steps, labels]` over `line`, label 0
/// the blank): the likeliest label at each step, repeats and blanks
/// removed. A character's probability is the highest its label reached
/// over the steps that emitted it.
pub fn greedy_ctc(probs: NdTensorView<f32, 2>, line: &LineImage, char_of: impl Fn(usize) -> char) -> Vec<ReadChar> {
    let steps = probs.size(0);
    // Page pixels per step of the model's output.
    let scale = line.rect.width() as f32 / steps.max(1) as f32;
    let x_at = |step: usize| line.rect.left() + (step as f32 * scale).round() as i32;

    let mut chars: Vec<ReadChar> = Vec::new();
    let mut previous = 0usize;
    for step in 0..steps {
        let row = probs.slice(step);
        let (label, probability) = row
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, p)| if p > best.1 { (i, p) } else { best });
        if label != 0 && label == previous {
            if let Some(last) = chars.last_mut() {
                last.probability = last.probability.max(probability);
                last.right = x_at(step + 1);
            }
        } else if label != 0 {
            chars.push(ReadChar { ch: char_of(label), left: x_at(step), right: x_at(step + 1), probability });
        }
        previous = label;
    }
    chars
}
