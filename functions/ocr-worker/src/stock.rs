//! The stock ocrs pipeline with the published models, unmodified: what the
//! fast engine (`crate::engine`) is measured against (`ocr-bench fixtures --engine
//! stock`). Not in the function's binary: it is the `stock` feature, which
//! embeds the original 12 MB of models.

use std::path::Path;

use crate::engine::sha256_hex;
use domain::jobs::ports::RecognizeError;
use domain::jobs::{BoundingBox, EngineInfo, Recognized, TextLine};
use ocrs::{ImageSource, OcrEngine, OcrEngineParams, TextItem};
use rten::Model;

/// SHA-256 of the official ocrs models embedded by the ikvmt crates
/// (checked by a test, and reported with every result).
pub const DETECTION_MODEL_SHA256: &str = "a917b23dbd9524b465df7e922641b3ff2981623df4ded5a0234004ef2fee7cfe";
pub const RECOGNITION_MODEL_SHA256: &str = "86c145c2edb96c8caed5b1ebb8f44d706408922211451c309c625157dd6061c5";

const OCRS_VERSION: &str = "0.13";

pub struct StockEngine {
    engine: OcrEngine,
    info: EngineInfo,
}

impl StockEngine {
    /// The models compiled into the binary: nothing is read or downloaded
    /// at run time, and loading takes ~10 ms per model.
    pub fn embedded() -> Result<Self, String> {
        let detection =
            Model::load_static_slice(ikvmt_ocr_detection::MODEL).map_err(|e| format!("detection model: {e}"))?;
        let recognition =
            Model::load_static_slice(ikvmt_ocr_recognition::MODEL).map_err(|e| format!("recognition model: {e}"))?;
        Self::with_models(detection, recognition, DETECTION_MODEL_SHA256.into(), RECOGNITION_MODEL_SHA256.into())
    }

    /// Models from `dir`: `text-detection.{rten,onnx}` and
    /// `text-recognition.{rten,onnx}`.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let load = |stem: &str| -> Result<(Model, String), String> {
            let path = ["rten", "onnx"]
                .iter()
                .map(|ext| dir.join(format!("{stem}.{ext}")))
                .find(|p| p.is_file())
                .ok_or_else(|| format!("{} has no {stem}.rten or {stem}.onnx", dir.display()))?;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let hash = sha256_hex(&bytes);
            let model = Model::load(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok((model, hash))
        };
        let (detection, detection_hash) = load("text-detection")?;
        let (recognition, recognition_hash) = load("text-recognition")?;
        Self::with_models(detection, recognition, detection_hash, recognition_hash)
    }

    /// The override directory when configured, else the embedded models.
    pub fn load(models_dir: Option<&Path>) -> Result<Self, String> {
        match models_dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded(),
        }
    }

    fn with_models(
        detection: Model,
        recognition: Model,
        detection_hash: String,
        recognition_hash: String,
    ) -> Result<Self, String> {
        let engine = OcrEngine::new(OcrEngineParams {
            detection_model: Some(detection),
            recognition_model: Some(recognition),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        let info = EngineInfo {
            name: "ocrs".into(),
            version: OCRS_VERSION.into(),
            detection_model_sha256: detection_hash,
            recognition_model_sha256: recognition_hash,
            sequence_model_sha256: None,
            kernel: Some(crate::engine::KernelPath::detect().family.into()),
        };
        Ok(Self { engine, info })
    }
}

impl StockEngine {
    /// ocrs' own pipeline on `image`.
    pub fn recognize(&self, image: &image::DynamicImage) -> Result<Recognized, RecognizeError> {
        let failed = |e: &dyn std::fmt::Display| RecognizeError(e.to_string().into());
        let image = image.to_rgb8();
        let source = ImageSource::from_bytes(image.as_raw(), image.dimensions()).map_err(|e| failed(&e))?;
        let input = self.engine.prepare_input(source).map_err(|e| failed(&e))?;
        let words = self.engine.detect_words(&input).map_err(|e| failed(&e))?;
        let line_boxes = self.engine.find_text_lines(&input, &words);
        let recognized = self.engine.recognize_text(&input, &line_boxes).map_err(|e| failed(&e))?;
        let lines = recognized
            .into_iter()
            .flatten()
            .filter(|line| !line.chars().is_empty())
            .filter_map(|line| {
                let text = line.to_string().trim().to_owned();
                if text.is_empty() {
                    return None;
                }
                let rect = line.bounding_rect();
                Some(TextLine {
                    text,
                    bbox: BoundingBox {
                        x: rect.left(),
                        y: rect.top(),
                        width: rect.width().max(0) as u32,
                        height: rect.height().max(0) as u32,
                    },
                    confidence: 0.0,
                    words: Vec::new(),
                })
            })
            .collect();
        Ok(Recognized { lines, engine: self.info.clone(), straightening: Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_models_are_the_published_ones() {
        assert_eq!(sha256_hex(ikvmt_ocr_detection::MODEL), DETECTION_MODEL_SHA256);
        assert_eq!(sha256_hex(ikvmt_ocr_recognition::MODEL), RECOGNITION_MODEL_SHA256);
    }

    #[test]
    fn a_blank_image_has_no_text() {
        let recognizer = StockEngine::embedded().unwrap();
        let blank = image::RgbImage::from_pixel(200, 100, image::Rgb([255, 255, 255]));
        let result = recognizer.recognize(&blank.into()).unwrap();
        assert!(result.lines.is_empty());
        assert_eq!(result.engine.detection_model_sha256, DETECTION_MODEL_SHA256);
    }

    #[test]
    fn a_missing_override_directory_is_a_clear_error() {
        let err = StockEngine::from_dir(Path::new("/nonexistent")).err().unwrap();
        assert!(err.contains("text-detection"), "{err}");
    }
}
