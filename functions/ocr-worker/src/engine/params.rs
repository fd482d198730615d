//! The engine's tuning constants in one place, each default the value its
//! module's measurements chose (see the comments there), so that a bench
//! can sweep them: `ocr-bench --param db.unclip_ratio=1.8 …`. The OCR
//! function always runs the defaults.

use std::fmt;

/// PP-OCR's line detector (`db`): PaddleOCR's post-processing as RapidOCR
/// 3.10 configures it for PP-OCRv6, and the largest page side seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbParams {
    /// Pages are seen at most this large (longest side, in pixels).
    pub max_side: u32,
    /// The probability a pixel of text has.
    pub threshold: f32,
    /// The mean probability a box must reach.
    pub box_threshold: f32,
    /// How far a box grows back: its area times this, over its perimeter.
    pub unclip_ratio: f32,
}

impl Default for DbParams {
    fn default() -> Self {
        Self { max_side: 1280, threshold: 0.3, box_threshold: 0.5, unclip_ratio: 1.6 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    pub db: DbParams,
    /// Lines whose mean character probability is below this are dropped as
    /// noise read from pictures (`assembly`).
    pub min_line_confidence: f32,
    /// The same for lines of one or two characters, the typical noise.
    pub min_short_line_confidence: f32,
}

impl Default for EngineParams {
    fn default() -> Self {
        Self { db: DbParams::default(), min_line_confidence: 0.5, min_short_line_confidence: 0.97 }
    }
}

impl EngineParams {
    /// The names [`set`](Self::set) takes.
    pub const NAMES: [&'static str; 6] = [
        "db.max_side",
        "db.threshold",
        "db.box_threshold",
        "db.unclip_ratio",
        "min_line_confidence",
        "min_short_line_confidence",
    ];

    /// Sets the parameter `name` to `value`, or says why not.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let number = || value.parse::<f32>().ok().filter(|v| v.is_finite() && *v >= 0.0);
        let share = || number().filter(|v| *v <= 1.0).ok_or_else(|| format!("{name}={value}: a number from 0 to 1"));
        match name {
            "db.max_side" => {
                self.db.max_side = value
                    .parse()
                    .ok()
                    .filter(|side| (64..=8192).contains(side))
                    .ok_or_else(|| format!("{name}={value}: pixels, 64 to 8192"))?
            }
            "db.threshold" => self.db.threshold = share()?,
            "db.box_threshold" => self.db.box_threshold = share()?,
            "db.unclip_ratio" => {
                self.db.unclip_ratio =
                    number().filter(|v| *v <= 10.0).ok_or_else(|| format!("{name}={value}: a number from 0 to 10"))?
            }
            "min_line_confidence" => self.min_line_confidence = share()?,
            "min_short_line_confidence" => self.min_short_line_confidence = share()?,
            _ => return Err(format!("unknown parameter {name}; known: {}", Self::NAMES.join(", "))),
        }
        Ok(())
    }

    /// The defaults with `spec`'s settings (`name=value`, comma-separated;
    /// empty: the defaults).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut params = Self::default();
        for setting in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = setting.split_once('=').ok_or_else(|| format!("{setting}: want name=value"))?;
            params.set(name.trim(), value.trim())?;
        }
        Ok(params)
    }
}

impl fmt::Display for EngineParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DbParams { max_side, threshold, box_threshold, unclip_ratio } = self.db;
        write!(
            f,
            "db.max_side={max_side},db.threshold={threshold},db.box_threshold={box_threshold},\
             db.unclip_ratio={unclip_ratio},min_line_confidence={},min_short_line_confidence={}",
            self.min_line_confidence, self.min_short_line_confidence
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_parsed_over_the_defaults_and_bad_ones_refused() {
        let params = EngineParams::parse("db.unclip_ratio=1.8, db.max_side=1600").unwrap();
        assert_eq!(params.db, DbParams { unclip_ratio: 1.8, max_side: 1600, ..DbParams::default() });
        assert_eq!(params.min_line_confidence, EngineParams::default().min_line_confidence);
        assert_eq!(EngineParams::parse("").unwrap(), EngineParams::default());
        assert_eq!(EngineParams::parse(&EngineParams::default().to_string()).unwrap(), EngineParams::default());
        for bad in ["db.threshold=1.5", "db.max_side=10", "db.unclip_ratio=-1", "nope=1", "db.threshold", "x=NaN"] {
            assert!(EngineParams::parse(bad).is_err(), "{bad}");
        }
    }
}
