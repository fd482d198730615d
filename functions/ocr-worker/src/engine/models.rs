//! The models each engine loads: compiled into the binary (pinned by
//! SHA-256), or read from an override directory; and the engine built from
//! them.

use std::borrow::Cow;
use std::path::Path;

use domain::jobs::{EngineChoice, EngineInfo};
use ocrs::{OcrEngine, OcrEngineParams};
use rten::Model;

use super::db::DbDetector;
use super::detection::{OcrsDetector, TextDetector};
use super::ppocr::PpReader;
use super::recognition::{LineReader, LineRecognizer};
use super::{EngineError, EngineParams, FastEngine, KernelPath, memory, sha256_hex};

/// The derived models (see `models/derive.py` and the README's credits),
/// compiled in: nothing is read or downloaded at run time.
pub(super) const DETECTION_MODEL: &[u8] = include_bytes!("../../models/text-detection-fitted.onnx");
pub(super) const RECOGNITION_CNN_MODEL: &[u8] = include_bytes!("../../models/text-recognition-cnn-int8.onnx");
pub(super) const RECOGNITION_RNN_MODEL: &[u8] = include_bytes!("../../models/text-recognition-rnn.onnx");
pub const DETECTION_MODEL_SHA256: &str = "713512084e180438cdd6879aab93710c525febd820dcb7d7e565f620cc782ffb";
pub const RECOGNITION_CNN_MODEL_SHA256: &str = "203acc06950f8d3c8e9ace7ae7544a5530cdb5b1b6deaec4f19ed8fdbcc74bf3";
pub const RECOGNITION_RNN_MODEL_SHA256: &str = "0955cad1a1d913900ae274540b21f21ba0b65f90266be82fda02655631656208";
/// File names of the models, in `models/` and in an `OCR_MODELS_DIR`.
pub const MODEL_FILES: [&str; 3] =
    ["text-detection-fitted.onnx", "text-recognition-cnn-int8.onnx", "text-recognition-rnn.onnx"];
/// PaddleOCR's PP-OCRv6 small recogniser and its dictionary (see
/// `models/derive_ppocr.py` and the README's credits).
pub(super) const PPOCR_DETECTION_MODEL: &[u8] = include_bytes!("../../models/ppocrv6-det-small.onnx");
pub(super) const PPOCR_RECOGNITION_MODEL: &[u8] = include_bytes!("../../models/ppocrv6-rec-small.onnx");
pub(super) const PPOCR_DICTIONARY: &str = include_str!("../../models/ppocrv6-dict.txt");
pub const PPOCR_DETECTION_MODEL_SHA256: &str = "496f30c5242feb5271e71e4836a7975625fcb37348a7bfe824ead90884215f7d";
pub const PPOCR_RECOGNITION_MODEL_SHA256: &str = "17f341905ce2797d06117f768cc66a9c7e83fc71099abcc053568404cf7773e3";
pub const PPOCR_DICTIONARY_SHA256: &str = "b5f2bfe2bdd9448429e3e82b51c789775d9b42f2403d082b00662eb77e401c5d";
pub const PPOCR_MODEL_FILES: [&str; 3] = ["ppocrv6-det-small.onnx", "ppocrv6-rec-small.onnx", "ppocrv6-dict.txt"];

const OCRS_ENGINE_NAME: &str = "ocrs-fitted";
const OCRS_ENGINE_VERSION: &str = "ocrs 0.13 models; fitted detection, 7-bit int8 CNN, batched GRU (2)";
pub(super) const PPOCR_ENGINE_NAME: &str = "ppocrv6-small";
const PPOCR_ENGINE_VERSION: &str =
    "PP-OCRv6 small detection and recognition (RapidOCR 3.10 ONNX, weights stored int8, f32 compute)";

/// Where an engine's models come from: compiled into the binary, or the
/// files of an override directory (hashed as they are read).
#[derive(Clone, Copy)]
pub(super) enum ModelSource<'a> {
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
    pub(super) fn with_models(
        source: ModelSource,
        choice: EngineChoice,
        params: EngineParams,
    ) -> Result<Self, EngineError> {
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
                (Box::new(DbDetector::new(detection, params.db)), Box::new(PpReader::new(model, dictionary)?), info)
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
            params,
        })
    }
}
