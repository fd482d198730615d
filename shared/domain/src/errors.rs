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
    fn a_port_error_keeps_its_cause_up_to_the_service() {
        let root = std::io::Error::other("connection reset by peer");
        let store = crate::ports::StoreError::Unavailable(Box::new(root));
        let job = crate::jobs::JobError::from(store);
        assert_eq!(
            super::chain(&job),
            "a backing service is unavailable: the store is unavailable: connection reset by peer"
        );
        let auth = crate::auth::AuthError::from(crate::ports::StoreError::Unavailable("throttled".into()));
        assert!(super::chain(&auth).ends_with("the store is unavailable: throttled"), "{}", super::chain(&auth));
    }

    #[test]
    fn every_cause_is_listed() {
        let error = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(super::chain(&error), "outer: disk on fire");
    }
}
