//! Optimistic concurrency: every store write is conditional on the version
//! that was read, so a read-modify-write that lost a race is simply run again
//! on fresh data. This is the one copy of that loop.

use std::future::Future;

/// Attempts before a caller is told the record is too busy.
pub const MAX_ATTEMPTS: usize = 5;

/// An error that can say "a concurrent write won; read again".
pub trait Contended: Sized {
    fn is_conflict(&self) -> bool;
    /// What to answer when every attempt lost its race.
    fn busy() -> Self;
}

/// Runs `attempt` until it succeeds, fails with anything but a conflict, or
/// has lost [`MAX_ATTEMPTS`] races.
pub async fn on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: Contended,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(e) if e.is_conflict() => continue,
            other => return other,
        }
    }
    Err(E::busy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[derive(Debug, PartialEq)]
    enum Failure {
        Conflict,
        Busy,
        Other,
    }

    impl Contended for Failure {
        fn is_conflict(&self) -> bool {
            *self == Failure::Conflict
        }
        fn busy() -> Self {
            Failure::Busy
        }
    }

    #[tokio::test]
    async fn retries_conflicts_only_and_gives_up_as_busy() {
        let calls = Cell::new(0);
        let settled = on_conflict(|| async {
            calls.set(calls.get() + 1);
            if calls.get() < 3 { Err(Failure::Conflict) } else { Ok(calls.get()) }
        })
        .await;
        assert_eq!(settled, Ok(3));

        calls.set(0);
        let other: Result<(), _> = on_conflict(|| async {
            calls.set(calls.get() + 1);
            Err(Failure::Other)
        })
        .await;
        assert_eq!((other, calls.get()), (Err(Failure::Other), 1));

        calls.set(0);
        let busy: Result<(), _> = on_conflict(|| async {
            calls.set(calls.get() + 1);
            Err(Failure::Conflict)
        })
        .await;
        assert_eq!((busy, calls.get()), (Err(Failure::Busy), MAX_ATTEMPTS));
    }
}
