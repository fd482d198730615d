//! The character error rate (CER) to compare OCR output with the truth.

/// The hypothesis' lines in the reference's order: each goes where the
/// reference line it is closest to stands (ties and unmatched lines keep
/// their order), so what remains of the CER is recognition, not order.
pub fn in_reference_order(truth: &str, text: &str) -> String {
    let reference: Vec<&str> = truth.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut placed: Vec<(usize, usize, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let closest = reference
                .iter()
                .enumerate()
                .map(|(r, reference)| (cer(reference, line), r))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(usize::MAX, |(_, r)| r);
            (closest, i, line)
        })
        .collect();
    placed.sort();
    placed.iter().map(|(_, _, line)| *line).collect::<Vec<_>>().join("\n")
}

/// Whitespace-normalised text: runs of spaces and tabs become one space,
/// lines are trimmed and empty lines dropped.
pub fn normalise(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Character error rate: edit distance / reference length, after
/// normalising whitespace. Line breaks count, so reading order matters.
pub fn cer(reference: &str, hypothesis: &str) -> f64 {
    let reference: Vec<char> = normalise(reference).chars().collect();
    let hypothesis: Vec<char> = normalise(hypothesis).chars().collect();
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    let mut row: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let substitution = diagonal + usize::from(r != h);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[hypothesis.len()] as f64 / reference.len() as f64
}
