//! One-time codes and the keyed hashes that stand in for secrets at rest.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::{CODE_LIFETIME, MAX_CODE_ATTEMPTS};
use crate::values::{Email, OneTimeCode};

/// What a code is for: a code mailed for one purpose never works for another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    Verify,
    Reset,
}

/// The HMAC key under which codes (and the passwords of registrations that
/// wait for theirs) are stored, so a leaked table gives neither away by
/// brute force. Derived from the JWT secret: one secret to manage.
#[derive(Clone)]
pub struct CodeKey(Vec<u8>);

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(<redacted>)")
    }
}

impl CodeKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(key)
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in parts {
            // Length-prefixed, so no two different inputs share a message.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    pub(crate) fn code_hash(&self, purpose: Purpose, email: &Email, code: &OneTimeCode) -> Vec<u8> {
        let purpose = match purpose {
            Purpose::Verify => b"verify".as_slice(),
            Purpose::Reset => b"reset".as_slice(),
        };
        self.mac(&[purpose, email.as_str().as_bytes(), code.expose().as_bytes()])
    }

    /// Identifies a waiting registration by its password in microseconds
    /// (an Argon2 check per waiting registration would cost ~20 ms each).
    pub(crate) fn password_tag(&self, email: &Email, password: &str) -> Vec<u8> {
        self.mac(&[b"registration-password", email.as_str().as_bytes(), password.as_bytes()])
    }

    /// A fresh code and what is stored of it.
    pub(crate) fn issue(&self, purpose: Purpose, email: &Email, now: OffsetDateTime) -> (OneTimeCode, PendingCode) {
        let code = OneTimeCode::generate();
        let pending =
            PendingCode { hash: self.code_hash(purpose, email, &code), expires_at: now + CODE_LIFETIME, attempts: 0 };
        (code, pending)
    }
}

/// A code waiting to be entered. Only its keyed hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingCode {
    pub hash: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub attempts: u32,
}

impl PendingCode {
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now && self.attempts < MAX_CODE_ATTEMPTS
    }

    pub fn matches(&self, hash: &[u8]) -> bool {
        same(&self.hash, hash)
    }
}

/// Wrong guesses an address's codes of one purpose may take in
/// [`GUESS_WINDOW`], whichever codes they were against: a fresh code does
/// not give guesses back (5 a code and 20 codes an hour were 100 guesses an
/// hour at one address).
pub const MAX_WRONG_GUESSES_PER_ADDRESS: usize = 10;
pub const GUESS_WINDOW: time::Duration = time::Duration::HOUR;

/// The wrong guesses at one address's codes of one purpose, kept in the
/// same record as the codes so that they are counted under its
/// conditional write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WrongGuesses {
    /// Unix seconds of each wrong guess in the window.
    at: Vec<i64>,
}

impl WrongGuesses {
    fn recent(&self, now: OffsetDateTime) -> impl Iterator<Item = &i64> {
        let since = (now - GUESS_WINDOW).unix_timestamp();
        self.at.iter().filter(move |&&t| t > since)
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Whether the address has no guess left in the window.
    pub fn spent(&self, now: OffsetDateTime) -> bool {
        self.recent(now).count() >= MAX_WRONG_GUESSES_PER_ADDRESS
    }

    pub fn record(&mut self, now: OffsetDateTime) {
        let since = (now - GUESS_WINDOW).unix_timestamp();
        self.at.retain(|&t| t > since);
        self.at.push(now.unix_timestamp());
    }

    /// How long the record holding them must be kept.
    pub fn kept_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.recent(now)
            .max()
            .and_then(|&t| OffsetDateTime::from_unix_timestamp(t).ok())
            .map_or(now, |last| last + GUESS_WINDOW)
    }
}

/// Constant-time equality of two hashes.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
