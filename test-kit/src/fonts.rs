//! The machine's fonts (Debian's fonts-dejavu-core and fonts-liberation2),
//! found by file name.

use std::path::{Path, PathBuf};

use ab_glyph::FontVec;
use anyhow::{Context, Result, anyhow};

const FONT_DIRS: [&str; 2] = ["/usr/share/fonts/truetype", "/usr/share/fonts"];

/// Finds a font file by name under the system font directories.
pub fn find_font(file_name: &str) -> Result<PathBuf> {
    fn search(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
        let entries = std::fs::read_dir(dir).ok()?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && depth > 0 {
                if let Some(found) = search(&path, name, depth - 1) {
                    return Some(found);
                }
            } else if path.file_name().is_some_and(|n| n == name) {
                return Some(path);
            }
        }
        None
    }
    FONT_DIRS
        .iter()
        .find_map(|dir| search(Path::new(dir), file_name, 3))
        .ok_or_else(|| anyhow!("font {file_name} not found: apt-get install fonts-dejavu-core fonts-liberation2"))
}

pub fn load_font(file_name: &str) -> Result<FontVec> {
    let path = find_font(file_name)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    FontVec::try_from_vec(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}
