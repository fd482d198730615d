//! The OCR engines the function runs, driven here directly with RTen, each
//! a detector behind [`TextDetector`] and a recogniser behind
//! [`LineRecognizer`]: `ppocr`, PaddleOCR's PP-OCRv6 small detector (whole
//! lines, `db`, put in order by `reading_order`) and recogniser (`ppocr`,
//! 18,708 characters); `ocrs`, ocrs' official detector (words, derived by
//! `models/derive.py` to run at any size, grouped into lines by ocrs'
//! `find_text_lines` and `layout`) and recogniser (an int8/f32 split of the
//! official model, ASCII only). [`Engines`] holds one engine per
//! [`EngineChoice`], for the job to pick.
//!
//! By concern: `models` (what is loaded, and the engine built from it),
//! `self_check` (the reference line read at start), `upright` (turning and
//! deskewing a page), `assembly` (from boxes to lines, words and
//! confidences), `orientation`, `gutters`, `lines`, `kernels`, `memory`.

mod assembly;
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
mod models;
mod orientation;
mod params;
mod ppocr;
mod reading_order;
mod recognition;
mod self_check;
mod upright;

use std::borrow::Cow;
use std::path::Path;

use domain::jobs::ports::{RecognizeError, TextRecognizer};
use domain::jobs::{EngineChoice, EngineInfo, Recognized, TextLine};
use image::{DynamicImage, GrayImage};
use ocrs::{ImageSource, OcrEngine};
use rten_imageproc::RotatedRect;
use sha2::{Digest, Sha256};

use detection::TextDetector;
pub use kernels::KernelPath;
use models::ModelSource;
pub use params::{DbParams, EngineParams};
// The embedded models themselves, for the tests and `broken`.
#[cfg(any(test, feature = "test-util"))]
use models::{
    DETECTION_MODEL, PPOCR_DETECTION_MODEL, PPOCR_DICTIONARY, PPOCR_RECOGNITION_MODEL, RECOGNITION_CNN_MODEL,
    RECOGNITION_RNN_MODEL,
};
pub use models::{
    DETECTION_MODEL_SHA256, MODEL_FILES, PPOCR_DETECTION_MODEL_SHA256, PPOCR_DICTIONARY_SHA256, PPOCR_MODEL_FILES,
    PPOCR_RECOGNITION_MODEL_SHA256, RECOGNITION_CNN_MODEL_SHA256, RECOGNITION_RNN_MODEL_SHA256,
};
use recognition::LineRecognizer;
pub use self_check::SELF_CHECK_TEXT;
pub use upright::PageReading;

/// ocrs' input normalisation: black is -0.5, white +0.5.
const BLACK: f32 = -0.5;

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
    params: EngineParams,
}

impl FastEngine {
    /// The ocrs engine with the models compiled into the binary.
    pub fn embedded() -> Result<Self, EngineError> {
        Self::embedded_for(EngineChoice::Ocrs)
    }

    /// The chosen engine with the models compiled into the binary.
    pub fn embedded_for(choice: EngineChoice) -> Result<Self, EngineError> {
        Self::embedded_with(choice, EngineParams::default())
    }

    /// The chosen engine with the models compiled in and tuning `params`
    /// other than the defaults: for benches that sweep them.
    pub fn embedded_with(choice: EngineChoice, params: EngineParams) -> Result<Self, EngineError> {
        Self::with_models(ModelSource::Embedded, choice, params)
    }

    /// The chosen engine with the models of `dir`, under the names in
    /// [`MODEL_FILES`] (and [`PPOCR_MODEL_FILES`]).
    pub fn from_dir(dir: &Path, choice: EngineChoice) -> Result<Self, EngineError> {
        Self::with_models(ModelSource::Dir(dir), choice, EngineParams::default())
    }

    /// The override directory when configured, else the embedded models.
    pub fn load(models_dir: Option<&Path>, choice: EngineChoice) -> Result<Self, EngineError> {
        match models_dir {
            Some(dir) => Self::from_dir(dir, choice),
            None => Self::embedded_for(choice),
        }
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
    use domain::jobs::BoundingBox;

    use super::models::PPOCR_ENGINE_NAME;
    use super::self_check::{SELF_CHECK_IMAGE, SELF_CHECK_MAX_CER};
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
        let params = EngineParams::default();
        assert!(params.keeps(&line("Total 12.00", 0.6)));
        assert!(!params.keeps(&line("Total 12.00", 0.3)));
        assert!(!params.keeps(&line("S", 0.7)));
        assert!(!params.keeps(&line("C", 0.94)));
        assert!(params.keeps(&line("7", 0.99)));
    }
}
