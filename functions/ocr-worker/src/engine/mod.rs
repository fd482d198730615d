//! The OCR engines the function runs, driven here directly with RTen: ocrs'
//! official detector, derived by `models/derive.py` to run at any size,
//! and one of two recognisers behind [`LineRecognizer`]: ocrs' (an int8/f32
//! split of the official model, ASCII only) or PaddleOCR's PP-OCRv6 small
//! (`ppocr`, 18,708 characters). ocrs itself still groups the words into
//! lines (`OcrEngine::find_text_lines`); `layout` then joins the table-like
//! rows ocrs splits, and every line gets a confidence from the recogniser's
//! probabilities, which drops noise. [`Engines`] holds one engine per
//! [`EngineChoice`], for the job to pick.

// Models that misread, for the tests that a broken engine cannot start.
#[cfg(any(test, feature = "test-util"))]
pub mod broken;
mod db;
mod detection;
mod gutters;
mod kernels;
pub mod layout;
mod lines;
mod memory;
mod orientation;
mod ppocr;
mod reading_order;
mod recognition;

use std::borrow::Cow;
use std::path::Path;

use image::{DynamicImage, GrayImage};
use ocrs::{ImageSource, OcrEngine, OcrEngineParams};
use rten::Model;
use rten_imageproc::{Rect, RotatedRect};
use rten_tensor::prelude::*;
use sha2::{Digest, Sha256};
use shared::imaging::straighten::{MIN_SKEW_DEGREES, Straightening, straighten_gray};
use shared::jobs::ports::{RecognizeError, TextRecognizer};
use shared::jobs::{BoundingBox, EngineChoice, EngineInfo, Recognized, TextLine, Word};

use db::DbDetector;
use detection::{OcrsDetector, TextDetector};
pub use kernels::KernelPath;
use layout::Fragment;
use lines::LineImage;
use ppocr::PpReader;
use recognition::{LineReader, LineRecognizer, ReadChar};

/// ocrs' input normalisation: black is -0.5, white +0.5.
const BLACK: f32 = -0.5;

/// The derived models (see `models/derive.py` and the README's credits),
/// compiled in: nothing is read or downloaded at run time.
const DETECTION_MODEL: &[u8] = include_bytes!("../../models/text-detection-fitted.onnx");
const RECOGNITION_CNN_MODEL: &[u8] = include_bytes!("../../models/text-recognition-cnn-int8.onnx");
const RECOGNITION_RNN_MODEL: &[u8] = include_bytes!("../../models/text-recognition-rnn.onnx");
pub const DETECTION_MODEL_SHA256: &str = "713512084e180438cdd6879aab93710c525febd820dcb7d7e565f620cc782ffb";
pub const RECOGNITION_CNN_MODEL_SHA256: &str = "203acc06950f8d3c8e9ace7ae7544a5530cdb5b1b6deaec4f19ed8fdbcc74bf3";
pub const RECOGNITION_RNN_MODEL_SHA256: &str = "0955cad1a1d913900ae274540b21f21ba0b65f90266be82fda02655631656208";
/// File names of the models, in `models/` and in an `OCR_MODELS_DIR`.
pub const MODEL_FILES: [&str; 3] =
    ["text-detection-fitted.onnx", "text-recognition-cnn-int8.onnx", "text-recognition-rnn.onnx"];
/// PaddleOCR's PP-OCRv6 small recogniser and its dictionary (see
/// `models/derive_ppocr.py` and the README's credits).
const PPOCR_DETECTION_MODEL: &[u8] = include_bytes!("../../models/ppocrv6-det-small.onnx");
const PPOCR_RECOGNITION_MODEL: &[u8] = include_bytes!("../../models/ppocrv6-rec-small.onnx");
const PPOCR_DICTIONARY: &str = include_str!("../../models/ppocrv6-dict.txt");
pub const PPOCR_DETECTION_MODEL_SHA256: &str = "496f30c5242feb5271e71e4836a7975625fcb37348a7bfe824ead90884215f7d";
pub const PPOCR_RECOGNITION_MODEL_SHA256: &str = "17f341905ce2797d06117f768cc66a9c7e83fc71099abcc053568404cf7773e3";
pub const PPOCR_DICTIONARY_SHA256: &str = "b5f2bfe2bdd9448429e3e82b51c789775d9b42f2403d082b00662eb77e401c5d";
pub const PPOCR_MODEL_FILES: [&str; 3] = ["ppocrv6-det-small.onnx", "ppocrv6-rec-small.onnx", "ppocrv6-dict.txt"];

/// The reference line the engine reads when it loads (DejaVu Sans at
/// 26 px, grey, 496x56, made with Pillow; short, as it costs cold start):
/// a misreading engine (a CPU whose kernels compute wrong, a broken model,
/// a crate upgrade) must stop the function at initialisation, not mark
/// jobs DONE with wrong text.
const SELF_CHECK_IMAGE: &[u8] = include_bytes!("self-check.png");
pub const SELF_CHECK_TEXT: &str = "Self-check: 0123456789 QUICK fox?";
/// The most of the reference line's characters the engine may misread (a
/// `?` read as `:` is the kind of slip a working engine makes on some
/// kernels); a broken engine reads garbage or nothing (CER 0.9 or more).
const SELF_CHECK_MAX_CER: f64 = 0.1;

const OCRS_ENGINE_NAME: &str = "ocrs-fitted";
const OCRS_ENGINE_VERSION: &str = "ocrs 0.13 models; fitted detection, 7-bit int8 CNN, batched GRU (2)";
const PPOCR_ENGINE_NAME: &str = "ppocrv6-small";
const PPOCR_ENGINE_VERSION: &str =
    "ocrs 0.13 fitted detection; PP-OCRv6 small recognition (RapidOCR 3.10 ONNX, weights stored int8, f32 compute)";

/// Lines whose mean character probability is below this are dropped: on
/// pictures, detection finds "words" in artwork, and the recogniser reads
/// them as a letter or two with low probability, while real text reads at
/// 0.9 or more (see the ocr_quality tests and the README).
pub const MIN_LINE_CONFIDENCE: f32 = 0.5;
/// Very short lines (at most this many characters) must be surer still:
/// single-letter "lines" are the typical noise. Rings and strokes in the
/// cover fixture read as "C", "00" or "/" at up to 0.96; a lone page number
/// or letter reads at 0.999 (short lines are read unsqueezed, see `lines`).
const SHORT_LINE_CHARS: usize = 2;
pub const MIN_SHORT_LINE_CONFIDENCE: f32 = 0.97;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot load the {what} model")]
    Load {
        what: String,
        #[source]
        source: rten::LoadError,
    },
    #[error("cannot read the {what} model file {path}")]
    Read {
        what: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} model failed")]
    Run {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A model's output is not what the engine was built for.
    #[error("unexpected: {0}")]
    Unexpected(String),
    /// The engine misread its reference line: it must not serve.
    #[error("OCR self-check failed on this CPU, {kernel}: read {read:?} where the reference line says {expected:?}")]
    SelfCheck { kernel: String, read: String, expected: &'static str },
}

impl EngineError {
    fn model<E: std::error::Error + Send + Sync + 'static>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |source| Self::Run { what, source: Box::new(source) }
    }

    fn output<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |error| Self::Unexpected(format!("{what} output: {error:?}"))
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub struct FastEngine {
    /// Whether pages are turned upright and deskewed before reading (on
    /// unless a bench measures what that costs).
    straightens: bool,
    detector: Box<dyn TextDetector>,
    /// Whether the detector finds whole lines (PP-OCR's) rather than words
    /// (ocrs'): lines are put in order by `reading_order`, words by ocrs'
    /// line finding and `layout`.
    finds_lines: bool,
    reader: Box<dyn LineRecognizer>,
    /// ocrs' layout analysis, without models (it needs none).
    layout: OcrEngine,
    info: EngineInfo,
    kernel: KernelPath,
}

/// Where an engine's models come from: compiled into the binary, or the
/// files of an override directory (hashed as they are read).
#[derive(Clone, Copy)]
enum ModelSource<'a> {
    Embedded,
    Dir(&'a Path),
}

impl ModelSource<'_> {
    fn bytes(
        self,
        name: &str,
        embedded: &'static [u8],
        hash: &str,
    ) -> Result<(Cow<'static, [u8]>, String), EngineError> {
        match self {
            Self::Embedded => Ok((Cow::Borrowed(embedded), hash.to_owned())),
            Self::Dir(dir) => {
                let path = dir.join(name);
                let bytes = std::fs::read(&path).map_err(|source| EngineError::Read {
                    what: name.into(),
                    path: path.display().to_string(),
                    source,
                })?;
                let hash = sha256_hex(&bytes);
                Ok((Cow::Owned(bytes), hash))
            }
        }
    }

    fn model(self, name: &str, embedded: &'static [u8], hash: &str) -> Result<(Model, String), EngineError> {
        let (bytes, hash) = self.bytes(name, embedded, hash)?;
        let model = match bytes {
            Cow::Borrowed(bytes) => Model::load_static_slice(bytes),
            Cow::Owned(bytes) => Model::load(bytes),
        };
        Ok((model.map_err(|source| EngineError::Load { what: name.into(), source })?, hash))
    }
}

impl FastEngine {
    /// The ocrs engine with the models compiled into the binary.
    pub fn embedded() -> Result<Self, EngineError> {
        Self::embedded_for(EngineChoice::Ocrs)
    }

    /// The chosen engine with the models compiled into the binary.
    pub fn embedded_for(choice: EngineChoice) -> Result<Self, EngineError> {
        Self::with_models(ModelSource::Embedded, choice)
    }

    /// The chosen engine with the models of `dir`, under the names in
    /// [`MODEL_FILES`] (and [`PPOCR_MODEL_FILES`]).
    pub fn from_dir(dir: &Path, choice: EngineChoice) -> Result<Self, EngineError> {
        Self::with_models(ModelSource::Dir(dir), choice)
    }

    /// The override directory when configured, else the embedded models.
    pub fn load(models_dir: Option<&Path>, choice: EngineChoice) -> Result<Self, EngineError> {
        match models_dir {
            Some(dir) => Self::from_dir(dir, choice),
            None => Self::embedded_for(choice),
        }
    }

    /// [`load`](Self::load), then the [`self_check`](Self::self_check):
    /// what the function runs at initialisation. Logs, once, which kernels
    /// this CPU runs and what the check cost.
    pub fn load_checked(models_dir: Option<&Path>, choice: EngineChoice) -> Result<Self, EngineError> {
        let started = std::time::Instant::now();
        let engine = Self::load(models_dir, choice)?;
        let loaded = started.elapsed();
        engine.self_check()?;
        tracing::info!(
            engine = engine.info.name,
            kernel = engine.kernel.family,
            kernel_path = %engine.kernel,
            load_ms = loaded.as_millis() as u64,
            self_check_ms = (started.elapsed() - loaded).as_millis() as u64,
            "OCR engine ready"
        );
        Ok(engine)
    }

    /// Reads the reference line compiled into the binary and compares the
    /// text, whitespace collapsed: more than [`SELF_CHECK_MAX_CER`] wrong
    /// fails. Every kernel path tested reads it exactly; a saturating kernel
    /// or a broken model reads nothing or garbage, and the error names the
    /// CPU's kernels and features.
    pub fn self_check(&self) -> Result<(), EngineError> {
        let image = image::load_from_memory_with_format(SELF_CHECK_IMAGE, image::ImageFormat::Png)
            .map_err(|e| EngineError::Unexpected(format!("the self-check image: {e}")))?;
        // A kernel that panics (as RTen 0.26's generic code did) is a
        // misreading engine too, reported the same way.
        let read = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read(&image))) {
            Ok(lines) => lines?.iter().map(|line| line.text.as_str()).collect::<Vec<_>>().join(" "),
            Err(panic) => format!("(the engine panicked: {})", panic_message(panic.as_ref())),
        };
        let read = read.split_whitespace().collect::<Vec<_>>().join(" ");
        let cer = strsim::levenshtein(&read, SELF_CHECK_TEXT) as f64 / SELF_CHECK_TEXT.chars().count() as f64;
        if cer > SELF_CHECK_MAX_CER {
            return Err(EngineError::SelfCheck { kernel: self.kernel.to_string(), read, expected: SELF_CHECK_TEXT });
        }
        if cer > 0.0 {
            tracing::warn!(
                read,
                expected = SELF_CHECK_TEXT,
                cer,
                "the OCR self-check read its line nearly, not exactly"
            );
        }
        Ok(())
    }

    /// The engine reading every page as it is, without turning or
    /// deskewing it: for benches of what straightening costs.
    pub fn without_straightening(mut self) -> Self {
        self.straightens = false;
        self
    }

    /// The kernels this engine runs on.
    pub fn kernel_path(&self) -> &KernelPath {
        &self.kernel
    }

    fn with_models(source: ModelSource, choice: EngineChoice) -> Result<Self, EngineError> {
        // Before loading: RTen's threads start (and take arenas) then.
        memory::share_one_arena();
        let [detection_file, cnn_file, rnn_file] = MODEL_FILES;
        let kernel = KernelPath::detect();
        let (detector, reader, info): (Box<dyn TextDetector>, Box<dyn LineRecognizer>, EngineInfo) = match choice {
            EngineChoice::Ocrs => {
                let (detection, detection_hash) =
                    source.model(detection_file, DETECTION_MODEL, DETECTION_MODEL_SHA256)?;
                let (cnn, cnn_hash) = source.model(cnn_file, RECOGNITION_CNN_MODEL, RECOGNITION_CNN_MODEL_SHA256)?;
                let (rnn, rnn_hash) = source.model(rnn_file, RECOGNITION_RNN_MODEL, RECOGNITION_RNN_MODEL_SHA256)?;
                let info = EngineInfo {
                    name: OCRS_ENGINE_NAME.into(),
                    version: OCRS_ENGINE_VERSION.into(),
                    detection_model_sha256: detection_hash,
                    recognition_model_sha256: cnn_hash,
                    sequence_model_sha256: Some(rnn_hash),
                    kernel: Some(kernel.family.into()),
                };
                (Box::new(OcrsDetector::new(detection)), Box::new(LineReader::new(cnn, rnn)?), info)
            }
            EngineChoice::Ppocr => {
                let [detection_file, model_file, dictionary_file] = PPOCR_MODEL_FILES;
                let (detection, detection_hash) =
                    source.model(detection_file, PPOCR_DETECTION_MODEL, PPOCR_DETECTION_MODEL_SHA256)?;
                let (model, model_hash) =
                    source.model(model_file, PPOCR_RECOGNITION_MODEL, PPOCR_RECOGNITION_MODEL_SHA256)?;
                let (dictionary, _) =
                    source.bytes(dictionary_file, PPOCR_DICTIONARY.as_bytes(), PPOCR_DICTIONARY_SHA256)?;
                let dictionary = std::str::from_utf8(&dictionary)
                    .map_err(|e| EngineError::Unexpected(format!("{dictionary_file}: {e}")))?;
                let info = EngineInfo {
                    name: PPOCR_ENGINE_NAME.into(),
                    version: PPOCR_ENGINE_VERSION.into(),
                    detection_model_sha256: detection_hash,
                    recognition_model_sha256: model_hash,
                    sequence_model_sha256: None,
                    kernel: Some(kernel.family.into()),
                };
                (Box::new(DbDetector::new(detection)), Box::new(PpReader::new(model, dictionary)?), info)
            }
        };
        Ok(Self {
            straightens: true,
            detector,
            finds_lines: choice == EngineChoice::Ppocr,
            reader,
            layout: OcrEngine::new(OcrEngineParams::default()).map_err(|e| EngineError::Unexpected(e.to_string()))?,
            info,
            kernel,
        })
    }

    /// What this engine reports in results.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// ocrs' line finding and reading order for `words`, cut at the
    /// column gutters it misses.
    fn find_lines(&self, words: &[RotatedRect]) -> Result<Vec<Vec<RotatedRect>>, EngineError> {
        // `find_text_lines` ignores its input image; any will do.
        let pixel = [255u8];
        let source = ImageSource::from_bytes(&pixel, (1, 1)).map_err(EngineError::output("layout"))?;
        let input = self.layout.prepare_input(source).map_err(|e| EngineError::Unexpected(e.to_string()))?;
        Ok(gutters::split(self.layout.find_text_lines(&input, words)))
    }

    /// Text lines of `image`, in reading order, with confidences.
    pub fn read(&self, image: &DynamicImage) -> Result<Vec<TextLine>, EngineError> {
        Ok(self.read_page(image)?.lines)
    }

    /// Turns the page upright (a quarter turn, then against its skew) and
    /// reads it: the lines' boxes are in the straightened page, which
    /// `shared::imaging::straighten` makes again from the same image.
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

    /// The lines of an upright page made of `words`, and (if asked) whether
    /// they read better upside down.
    fn read_words(
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
            .filter(is_text)
            .collect();
        Ok((lines, way_up))
    }

    /// How confidently the page's longest lines (up to
    /// [`UPSIDE_DOWN_SAMPLE`]) read, and turned over (not tried when they
    /// read confidently).
    fn which_way_up(&self, prepared: &[LineImage], read: &[Vec<ReadChar>]) -> Result<WayUp, EngineError> {
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
struct WayUp {
    upright: f32,
    turned_over: Option<f32>,
}

impl Default for WayUp {
    fn default() -> Self {
        Self { upright: 1.0, turned_over: None }
    }
}

impl WayUp {
    fn is_upside_down(&self) -> bool {
        self.turned_over.is_some_and(|turned| turned > self.upright + UPSIDE_DOWN_MARGIN)
    }

    fn best(&self) -> f32 {
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}

/// ocrs' greyscale conversion (ITU BT.601 weights, as torchvision's; alpha
/// ignored), to 8 bits. A greyscale image is used as it is.
fn greyscale(image: &DynamicImage) -> Cow<'_, GrayImage> {
    fn from_channels(width: u32, height: u32, raw: &[u8], channels: usize) -> GrayImage {
        let pixels = raw
            .chunks_exact(channels)
            .map(|p| (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])).round() as u8)
            .collect();
        GrayImage::from_raw(width, height, pixels).expect("one grey byte per pixel")
    }
    let (width, height) = (image.width(), image.height());
    match image {
        DynamicImage::ImageLuma8(grey) => Cow::Borrowed(grey),
        DynamicImage::ImageRgb8(rgb) => Cow::Owned(from_channels(width, height, rgb.as_raw(), 3)),
        DynamicImage::ImageRgba8(rgba) => Cow::Owned(from_channels(width, height, rgba.as_raw(), 4)),
        other => Cow::Owned(from_channels(width, height, other.to_rgb8().as_raw(), 3)),
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

/// Whether a line is text rather than noise read from pictures.
pub fn is_text(line: &TextLine) -> bool {
    let chars = line.text.chars().filter(|c| !c.is_whitespace()).count();
    let threshold = if chars <= SHORT_LINE_CHARS { MIN_SHORT_LINE_CONFIDENCE } else { MIN_LINE_CONFIDENCE };
    let keep = line.confidence >= threshold;
    if !keep {
        tracing::debug!(text = line.text, confidence = line.confidence, bbox = ?line.bbox, "line dropped as noise");
    }
    keep
}

impl FastEngine {
    /// A page's reading as the job stores it.
    pub fn recognize(&self, image: &DynamicImage) -> Result<Recognized, EngineError> {
        let page = self.read_page(image)?;
        Ok(Recognized { lines: page.lines, engine: self.info.clone(), straightening: page.straightening })
    }
}

/// Every engine, loaded (and self-checked) at start; each job's choice
/// picks the one that reads it.
pub struct Engines {
    ppocr: FastEngine,
    ocrs: FastEngine,
}

impl Engines {
    /// What the function runs at initialisation: both engines loaded and
    /// self-checked ([`FastEngine::load_checked`]).
    pub fn load_checked(models_dir: Option<&Path>) -> Result<Self, EngineError> {
        Ok(Self {
            ppocr: FastEngine::load_checked(models_dir, EngineChoice::Ppocr)?,
            ocrs: FastEngine::load_checked(models_dir, EngineChoice::Ocrs)?,
        })
    }

    /// Both engines with the models compiled in, unchecked.
    pub fn embedded() -> Result<Self, EngineError> {
        Ok(Self { ppocr: FastEngine::embedded_for(EngineChoice::Ppocr)?, ocrs: FastEngine::embedded()? })
    }

    pub fn get(&self, choice: EngineChoice) -> &FastEngine {
        match choice {
            EngineChoice::Ppocr => &self.ppocr,
            EngineChoice::Ocrs => &self.ocrs,
        }
    }
}

impl TextRecognizer for Engines {
    fn recognize(&self, image: &DynamicImage, engine: EngineChoice) -> Result<Recognized, RecognizeError> {
        self.get(engine).recognize(image).map_err(|e| RecognizeError(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_models_are_the_derived_ones() {
        assert_eq!(sha256_hex(DETECTION_MODEL), DETECTION_MODEL_SHA256);
        assert_eq!(sha256_hex(RECOGNITION_CNN_MODEL), RECOGNITION_CNN_MODEL_SHA256);
        assert_eq!(sha256_hex(RECOGNITION_RNN_MODEL), RECOGNITION_RNN_MODEL_SHA256);
        assert_eq!(sha256_hex(PPOCR_DETECTION_MODEL), PPOCR_DETECTION_MODEL_SHA256);
        assert_eq!(sha256_hex(PPOCR_RECOGNITION_MODEL), PPOCR_RECOGNITION_MODEL_SHA256);
        assert_eq!(sha256_hex(PPOCR_DICTIONARY.as_bytes()), PPOCR_DICTIONARY_SHA256);
    }

    fn every_engine() -> impl Iterator<Item = (EngineChoice, FastEngine)> {
        EngineChoice::ALL.into_iter().map(|choice| (choice, FastEngine::embedded_for(choice).unwrap()))
    }

    #[test]
    fn a_blank_image_has_no_text() {
        for (choice, engine) in every_engine() {
            for (w, h) in [(200, 100), (1, 1), (3000, 40), (40, 3000)] {
                let blank = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
                assert!(engine.read(&blank.into()).unwrap().is_empty(), "{choice:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn an_override_directory_is_loaded_and_reported() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let ocrs = FastEngine::from_dir(&dir, EngineChoice::Ocrs).unwrap();
        assert_eq!(ocrs.info.detection_model_sha256, DETECTION_MODEL_SHA256);
        assert_eq!(ocrs.info.sequence_model_sha256.as_deref(), Some(RECOGNITION_RNN_MODEL_SHA256));
        let ppocr = FastEngine::from_dir(&dir, EngineChoice::Ppocr).unwrap();
        assert_eq!(ppocr.info.recognition_model_sha256, PPOCR_RECOGNITION_MODEL_SHA256);
        assert_eq!(ppocr.info.detection_model_sha256, PPOCR_DETECTION_MODEL_SHA256);
        assert_eq!(ppocr.info.name, PPOCR_ENGINE_NAME);
    }

    #[test]
    fn a_missing_override_directory_is_a_clear_error() {
        for choice in EngineChoice::ALL {
            let Err(err) = FastEngine::from_dir(Path::new("/nonexistent"), choice) else {
                panic!("loaded from nowhere")
            };
            let first = match choice {
                EngineChoice::Ocrs => MODEL_FILES[0],
                EngineChoice::Ppocr => PPOCR_MODEL_FILES[0],
            };
            assert!(err.to_string().contains(first), "{choice:?}: {err}");
        }
    }

    #[test]
    fn the_embedded_models_pass_the_self_check() {
        for choice in EngineChoice::ALL {
            let engine = FastEngine::load_checked(None, choice).unwrap();
            // Read exactly on every path tested (natively and emulated).
            let image = image::load_from_memory(SELF_CHECK_IMAGE).unwrap();
            let read: Vec<String> = engine.read(&image).unwrap().into_iter().map(|l| l.text).collect();
            assert_eq!(read.join(" "), SELF_CHECK_TEXT, "{choice:?}");
            println!("{choice:?} kernel path: {}", engine.kernel_path());
            assert_eq!(engine.info.kernel.as_deref(), Some(engine.kernel_path().family));
        }
    }

    /// A line cut from a page with its ink at the edges (a screenshot of a
    /// line, a cropped scan) is detected set in paper: read whole, its boxes
    /// where its words are.
    #[test]
    fn a_line_cut_close_to_its_ink_is_read_whole() {
        let line = image::load_from_memory(SELF_CHECK_IMAGE).unwrap().into_luma8();
        for (choice, engine) in every_engine() {
            for edge in [0, 1, 2, 3] {
                let (x, y, width, height) = detection::ink_box(&line);
                let (x, y) = (x - edge, y - edge);
                let cut = image::imageops::crop_imm(&line, x, y, width + 2 * edge, height + 2 * edge).to_image();
                let read: Vec<String> =
                    engine.read(&DynamicImage::ImageLuma8(cut)).unwrap().into_iter().map(|l| l.text).collect();
                assert_eq!(read.join(" "), SELF_CHECK_TEXT, "{choice:?}: cut {edge} px from the ink");
            }
        }
    }

    /// The rotation decision rests on the recogniser's confidences, which
    /// differ a little between kernel paths and between recognisers: so it
    /// is checked on each (this test runs on the emulated CPUs too).
    #[test]
    fn the_reference_line_turned_any_quarter_is_read_upright() {
        let image = image::load_from_memory(SELF_CHECK_IMAGE).unwrap();
        for (choice, engine) in every_engine() {
            for (turned, expected) in [(image.rotate90(), 270), (image.rotate180(), 180), (image.rotate270(), 90)] {
                let page = engine.read_page(&turned).unwrap();
                let read: Vec<String> = page.lines.into_iter().map(|l| l.text).collect();
                assert_eq!(page.straightening.rotation, expected, "{choice:?}: read {read:?}");
                let cer = strsim::levenshtein(&read.join(" "), SELF_CHECK_TEXT) as f64 / SELF_CHECK_TEXT.len() as f64;
                assert!(cer <= SELF_CHECK_MAX_CER, "{choice:?} turned {expected}: read {read:?}");
            }
        }
    }

    #[test]
    fn a_broken_model_fails_initialisation() {
        let dir = tempfile::tempdir().unwrap();
        broken::write_models(dir.path()).unwrap();
        for choice in EngineChoice::ALL {
            FastEngine::from_dir(dir.path(), choice).expect("a broken model still loads");
            let Err(err) = FastEngine::load_checked(Some(dir.path()), choice) else {
                panic!("a broken {choice:?} model passed the self-check")
            };
            assert!(matches!(err, EngineError::SelfCheck { .. }), "{err}");
            let message = err.to_string();
            let path = KernelPath::detect();
            assert!(message.contains(&path.int8_kernel) && message.contains(path.family), "{message}");
            println!("{choice:?}: {message}");
        }
        let Err(err) = Engines::load_checked(Some(dir.path())) else { panic!("broken engines served") };
        assert!(matches!(err, EngineError::SelfCheck { .. }), "{err}");
    }

    #[test]
    fn noise_needs_a_higher_confidence_when_short() {
        let line = |text: &str, confidence| TextLine {
            text: text.into(),
            bbox: BoundingBox { x: 0, y: 0, width: 1, height: 1 },
            confidence,
            words: Vec::new(),
        };
        assert!(is_text(&line("Total 12.00", 0.6)));
        assert!(!is_text(&line("Total 12.00", 0.3)));
        assert!(!is_text(&line("S", 0.7)));
        assert!(!is_text(&line("C", 0.94)));
        assert!(is_text(&line("7", 0.99)));
    }
}
