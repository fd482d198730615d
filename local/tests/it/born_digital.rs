//! Born-digital PDFs made by real producers (`born-digital/`: each PDF
//! with poppler's `pdftotext` of it beside it, and how it was made in
//! `born-digital/README.md`) are read from their own text as well as
//! poppler reads them: every word of the page, none glued to the next or
//! doubled (word-bag F1), in poppler's reading order (CER).

use std::path::{Path, PathBuf};

use imaging::document::{DocumentLimits, PdfReader, inspect_document, render_page};
use imaging::sandbox::ChildProgram;
use platform::config::PDF_DRAWING;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/born-digital");
    let mut pdfs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    pdfs.sort();
    assert!(!pdfs.is_empty(), "no PDFs in {}", dir.display());
    pdfs
}

/// The document's text as the service reads it: each page's own text, its
/// lines in order; `None` for a page left to OCR. Read in a confined child
/// of the local runner's binary, under the OCR worker's limits.
fn text_layer(pdf: &[u8]) -> Vec<Option<String>> {
    static RUNNER: std::sync::OnceLock<ChildProgram> = std::sync::OnceLock::new();
    let program = *RUNNER.get_or_init(|| ChildProgram::new(env!("CARGO_BIN_EXE_local")));
    let limits =
        DocumentLimits { pdf_reader: PdfReader::Confined(program), confinement: PDF_DRAWING, ..Default::default() };
    let info = inspect_document(pdf, &limits).unwrap();
    (0..info.pages)
        .map(|page| {
            let drawn = render_page(pdf, &info, page, &limits).unwrap();
            drawn.text_layer.and_then(Result::ok).map(|lines| {
                lines
                    .iter()
                    .map(|l| l.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        })
        .collect()
}

/// Word-bag F1 of `ours` against `reference`.
fn word_f1(reference: &str, ours: &str) -> f64 {
    use std::collections::HashMap;
    let bag = |text: &str| {
        let mut bag: HashMap<String, usize> = HashMap::new();
        for word in text.split_whitespace() {
            *bag.entry(word.to_owned()).or_default() += 1;
        }
        bag
    };
    let (reference, ours) = (bag(reference), bag(ours));
    let common: usize = ours.iter().map(|(w, n)| (*n).min(reference.get(w).copied().unwrap_or(0))).sum();
    let (r, o): (usize, usize) = (reference.values().sum(), ours.values().sum());
    if common == 0 {
        return 0.0;
    }
    let (precision, recall) = (common as f64 / o as f64, common as f64 / r as f64);
    2.0 * precision * recall / (precision + recall)
}

#[test]
fn born_digital_pages_read_as_poppler_reads_them() {
    let mut failed = Vec::new();
    for pdf in corpus() {
        let name = pdf.file_stem().unwrap().to_string_lossy().into_owned();
        // Without the bidi controls poppler puts around right-to-left lines.
        let reference: String = std::fs::read_to_string(pdf.with_extension("txt"))
            .unwrap()
            .chars()
            .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
            .collect();
        let pages: Vec<&str> = reference.split('\u{c}').collect();
        let ours = text_layer(&std::fs::read(&pdf).unwrap());
        for (i, page) in ours.iter().enumerate() {
            let expected = pages.get(i).copied().unwrap_or_default();
            let Some(page) = page else {
                failed.push(format!("{name} page {}: left to OCR", i + 1));
                continue;
            };
            let (f1, cer) = (word_f1(expected, page), test_kit::cer(expected, page));
            println!("{name} page {}: word F1 {f1:.3}, CER {cer:.3}", i + 1);
            if f1 < 0.98 || cer > 0.05 {
                failed.push(format!(
                    "{name} page {}: F1 {f1:.3}, CER {cer:.3}\n--- ours:\n{page}\n--- pdftotext:\n{expected}",
                    i + 1
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
