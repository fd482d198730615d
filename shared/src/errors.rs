//! Error reporting helpers.

/// An error with every cause after it: `outer: cause: root cause`, so logs
/// and stored failure reasons keep what `Display` of the outer error hides.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_listed() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(super::chain(&error), "outer: disk on fire");
    }
}
