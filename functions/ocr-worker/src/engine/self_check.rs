//! The start-up self-check: the engine reads a reference line compiled into
//! the binary before the function serves, so that a misreading engine stops
//! it at initialisation.

use std::path::Path;

use domain::jobs::EngineChoice;

use super::{EngineError, FastEngine};

/// The reference line the engine reads when it loads (DejaVu Sans at
/// 26 px, grey, 496x56, made with Pillow; short, as it costs cold start):
/// a misreading engine (a CPU whose kernels compute wrong, a broken model,
/// a crate upgrade) must stop the function at initialisation, not mark
/// jobs DONE with wrong text.
pub(super) const SELF_CHECK_IMAGE: &[u8] = include_bytes!("self-check.png");
pub const SELF_CHECK_TEXT: &str = "Self-check: 0123456789 QUICK fox?";
/// The most of the reference line's characters the engine may misread (a
/// `?` read as `:` is the kind of slip a working engine makes on some
/// kernels); a broken engine reads garbage or nothing (CER 0.9 or more).
pub(super) const SELF_CHECK_MAX_CER: f64 = 0.1;

impl FastEngine {
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
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}
