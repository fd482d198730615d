//! What the tests and benches share: pages with known text rendered from
//! the machine's fonts (prose, receipts, forms, columns, letters, text among
//! artwork), what a camera does to them, and the character error rate to
//! compare a reading with the truth. No AWS, no HTTP: the OCR engine's own
//! tests use it as the client-level tests and the benches do.

pub mod canvas;
pub mod cer;
pub mod distortion;
pub mod fonts;
pub mod pages;
pub mod rng;

pub use ab_glyph::FontVec;
pub use canvas::{Fixture, Page};
pub use cer::{cer, in_reference_order, normalise};
pub use distortion::{add_noise, photographed, rotate};
pub use fonts::{find_font, load_font};
pub use pages::*;
pub use rng::Rng;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cer_counts_edits_against_the_reference() {
        assert_eq!(cer("hello", "hello"), 0.0);
        assert_eq!(cer("hello", "hallo"), 0.2);
        assert_eq!(cer("ab\ncd", "ab  \n\n cd"), 0.0);
        assert_eq!(cer("abc", ""), 1.0);
        assert!(cer("ab\ncd", "cd\nab") > 0.5, "reading order must count");
    }

    #[test]
    fn rendering_puts_ink_on_the_page() {
        let font = load_font("DejaVuSans.ttf").unwrap();
        let fixture = paragraph("p", &font, 24.0, &["Hello"]);
        let dark = fixture.image.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 100, "only {dark} dark pixels");
        assert_eq!(rotate(&fixture.image, 0.0), fixture.image);
    }
}
