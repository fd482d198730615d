//! The real engine on rendered fixtures: text within a CER bound, lines in
//! natural reading order.

use local::fixtures::{self, Fixture, cer, load_font, normalise};
use ocr::recognizer::OcrsRecognizer;
use shared::ports::TextRecognizer;

fn read(fixture: &Fixture) -> String {
    let recognizer = OcrsRecognizer::embedded().unwrap();
    let result = recognizer.recognize(&fixture.image).unwrap();
    result.lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
}

fn check(fixture: &Fixture, max_cer: f64) {
    let text = read(fixture);
    let rate = cer(&fixture.truth, &text);
    println!("--- {} (CER {rate:.3})\n{}\n", fixture.name, normalise(&text));
    assert!(rate <= max_cer, "{}: CER {rate:.3} > {max_cer}\ngot:\n{text}\nwanted:\n{}", fixture.name, fixture.truth);
}

#[test]
fn plain_text() {
    let font = load_font("DejaVuSans.ttf").unwrap();
    check(
        &fixtures::paragraph("plain", &font, 28.0, &["Hello from the OCR pipeline", "Serverless Rust on AWS Lambda"]),
        0.05,
    );
}

#[test]
fn receipt_items_and_prices_share_a_line() {
    let font = load_font("DejaVuSans.ttf").unwrap();
    check(&fixtures::receipt(&font), 0.08);
}

#[test]
fn columns_read_in_order() {
    let font = load_font("DejaVuSans.ttf").unwrap();
    check(&fixtures::two_columns(&font), 0.08);
}
