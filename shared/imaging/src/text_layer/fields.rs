//! Form fields whose value has no appearance stream: the PDF leaves
//! drawing it to the viewer (`NeedAppearances`), so hayro draws nothing and
//! poppler prints the value. The value is placed in the field's box as
//! words, left to right, at the box's text size.

use hayro::hayro_interpret::RectExt;
use hayro::hayro_syntax::object::{Array, Dict, Name, Object};
use hayro::hayro_syntax::page::Page;
use hayro::kurbo::{Affine, Point, Rect};

use super::PlacedGlyph;

/// Field dictionaries inherit their type and value from their parents;
/// this many parents are looked at, at most.
const MAX_FIELD_DEPTH: usize = 16;
/// Widget annotation flags that hide it.
const HIDDEN: u32 = 1 << 1;
const NO_VIEW: u32 = 1 << 5;

/// A field's entry, its own or its nearest parent's.
fn inherited<'a>(field: &Dict<'a>, key: &[u8]) -> Option<Object<'a>> {
    let mut node = field.clone();
    for _ in 0..MAX_FIELD_DEPTH {
        if let Some(value) = node.get::<Object<'a>>(key) {
            return Some(value);
        }
        node = node.get::<Dict<'a>>(b"Parent")?;
    }
    None
}

/// A PDF text string: UTF-16BE after its byte-order mark, UTF-8 after its
/// own, else PDFDocEncoding (Latin-1 for the printable characters).
fn text_string(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = utf16.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(utf8) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(utf8).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The values of the page's text and choice fields that have no
/// appearance, as glyphs (one a word) in their boxes, in the page's pixels
/// (`transform` from PDF space).
pub(super) fn values_without_appearance(page: &Page<'_>, transform: Affine) -> Vec<PlacedGlyph> {
    let Some(annotations) = page.raw().get::<Array<'_>>(b"Annots") else {
        return Vec::new();
    };
    let mut glyphs = Vec::new();
    for widget in annotations.iter::<Dict<'_>>() {
        let is_widget = widget.get::<Name<'_>>(b"Subtype").is_some_and(|s| s.as_ref() == b"Widget");
        let hidden = widget.get::<u32>(b"F").is_some_and(|f| f & (HIDDEN | NO_VIEW) != 0);
        let drawn = widget.get::<Dict<'_>>(b"AP").is_some_and(|ap| ap.get::<Object<'_>>(b"N").is_some());
        if !is_widget || hidden || drawn {
            continue;
        }
        let text_field = inherited(&widget, b"FT")
            .and_then(|t| Name::try_from(t).ok())
            .is_some_and(|t| matches!(t.as_ref(), b"Tx" | b"Ch"));
        let value = inherited(&widget, b"V")
            .and_then(|v| hayro::hayro_syntax::object::String::try_from(v).ok())
            .map(|v| text_string(v.as_bytes()))
            .filter(|v| !v.trim().is_empty());
        let (Some(value), Some(rect)) =
            (value.filter(|_| text_field), widget.get::<hayro::hayro_syntax::object::Rect>(b"Rect"))
        else {
            continue;
        };
        let rect = rect.to_kurbo();
        let corners = [Point::new(rect.x0, rect.y0), Point::new(rect.x1, rect.y1)].map(|p| transform * p);
        let box_ = Rect::from_points(corners[0], corners[1]);
        if !box_.is_finite() || box_.height() < 1.0 {
            continue;
        }
        // Text about two thirds of the box high, from a small inset.
        let em = 0.65 * box_.height();
        let baseline = box_.y1 - 0.3 * box_.height();
        let mut x = box_.x0 + 0.1 * em;
        // A multi-line field: its first line (said in the README).
        for word in value.lines().next().unwrap_or_default().split_whitespace() {
            let width = 0.5 * em * word.chars().count() as f64;
            let bbox = Rect::new(x, baseline - 0.8 * em, x + width, baseline + 0.2 * em);
            glyphs.push(PlacedGlyph { text: Some(word.to_owned()), bbox, em, baseline });
            x += width + 0.3 * em;
        }
    }
    glyphs
}
