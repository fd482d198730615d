//! Domain newtypes. Each one parses raw input once, at the edge; code that
//! holds an `Email` never has to wonder whether it is valid.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw value was refused. The message is written for the API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn refuse(message: impl Into<String>) -> ParseError {
    ParseError(message.into())
}

/// A normalised (trimmed, lower-cased) e-mail address.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let candidate = raw.trim().to_lowercase();
        if candidate.is_empty() {
            return Err(refuse("email must not be empty"));
        }
        if candidate.len() > Self::MAX_LEN {
            return Err(refuse(format!("email must be at most {} characters", Self::MAX_LEN)));
        }
        let parsed = email_address::EmailAddress::from_str(&candidate)
            .map_err(|e| refuse(format!("email is not a valid address: {e}")))?;
        // Display names ("Ann <ann@x.org>") and dotless domains are legal in
        // RFC 5322 but never what a sign-up form means.
        if parsed.email() != candidate || !parsed.domain().contains('.') {
            return Err(refuse("email is not a valid address"));
        }
        Ok(Self(candidate))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// A person's display name: trimmed, 1 to 100 characters, no control,
/// direction-override or invisible characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

/// Unicode format characters that change how text around them shows
/// without showing themselves: direction overrides, embeddings, isolates
/// and marks (U+202E turns "moc.elpmaxe" into "example.com"), zero-width
/// spaces, word joiners, the byte-order mark. Zero-width (non-)joiners
/// stay: Persian and Indic names are written with them.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

impl PersonName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(refuse("name must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(refuse(format!("name must be at most {} characters", Self::MAX_CHARS)));
        }
        if name.chars().any(|c| c.is_control() || is_invisible_format(c)) {
            return Err(refuse("name must not contain control, direction-override or invisible characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PersonName {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<PersonName> for String {
    fn from(name: PersonName) -> Self {
        name.0
    }
}

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common-passwords.txt").lines().collect());

/// A password that meets the policy: 8 to 128 characters and not one of the
/// ~8,000 most common passwords of that length. Never printed.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(refuse(format!("password must be at least {} characters", Self::MIN_CHARS)));
        }
        if chars > Self::MAX_CHARS {
            return Err(refuse(format!("password must be at most {} characters", Self::MAX_CHARS)));
        }
        if COMMON_PASSWORDS.contains(raw.to_lowercase().as_str()) {
            return Err(refuse("password is too common; choose one that is harder to guess"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl TryFrom<String> for Password {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

/// Anything a client sends in a password field at login: only presence is
/// checked, so that a policy change never locks out existing accounts.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct PasswordAttempt(String);

impl PasswordAttempt {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordAttempt(<redacted>)")
    }
}

impl TryFrom<String> for PasswordAttempt {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if raw.is_empty() {
            return Err(refuse("password must not be empty"));
        }
        if raw.chars().count() > Password::MAX_CHARS {
            return Err(refuse(format!("password must be at most {} characters", Password::MAX_CHARS)));
        }
        Ok(Self(raw))
    }
}

/// A six-digit one-time code.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OneTimeCode(String);

impl OneTimeCode {
    pub const DIGITS: usize = 6;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let code = raw.trim();
        if code.len() != Self::DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(format!("code must be exactly {} digits", Self::DIGITS)));
        }
        Ok(Self(code.to_owned()))
    }

    /// Draws a code from the thread-local CSPRNG (ChaCha seeded by the OS).
    pub fn generate() -> Self {
        Self(format!("{:06}", rand::random_range(0..1_000_000u32)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(<redacted>)")
    }
}

impl TryFrom<String> for OneTimeCode {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

/// Where a request comes from, as far as throttling is concerned: the
/// client's IP address, an IPv6 address cut to its /64 (one subscriber
/// usually holds a whole /64, so counting single addresses would count
/// nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientAddress(String);

impl ClientAddress {
    pub fn from_ip(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(v4) => Self(v4.to_string()),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }

    /// The address API Gateway reports; `None` if it is not an IP address.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.trim().parse().ok().map(Self::from_ip)
    }

    /// For a host that cannot tell (all such requests share one budget).
    pub fn unknown() -> Self {
        Self("unknown".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's stable identifier (the JWT `sub`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for UserId {
    type Err = ParseError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(raw).map(Self).map_err(|_| refuse("not a valid user id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(Email::parse("  Ann@Example.ORG ").unwrap().as_str(), "ann@example.org");
    }

    #[test]
    fn email_refuses_junk() {
        for raw in
            ["", "   ", "ann", "ann@", "@example.org", "ann@localhost", "Ann <ann@example.org>", "a b@example.org"]
        {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be refused");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_policy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("password1").is_err(), "common password accepted");
        assert!(Password::parse("PassWord1").is_err(), "common password check is case-insensitive");
        assert!(Password::parse("correct horse battery staple").is_ok());
        // Characters, not bytes: eight non-ASCII characters are enough.
        assert!(Password::parse("ñçøüéàïô").is_ok());
    }

    #[test]
    fn password_never_prints() {
        let p = Password::parse("correct horse battery staple").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn names() {
        assert_eq!(PersonName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert!(PersonName::parse(" ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        for hidden in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{200F}', '\u{FEFF}', '\u{2060}', '\u{061C}'] {
            assert!(PersonName::parse(&format!("Ada{hidden}Lovelace")).is_err(), "{:?}", hidden);
        }
        // Joiners are part of how Persian and Indic names are written.
        assert!(PersonName::parse("\u{0645}\u{06CC}\u{200C}\u{0631}\u{0648}\u{062F}").is_ok());
        assert!(PersonName::parse(&"é".repeat(101)).is_err());
        assert!(PersonName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn codes() {
        assert!(OneTimeCode::parse("012345").is_ok());
        for raw in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦"] {
            assert!(OneTimeCode::parse(raw).is_err(), "{raw:?} should be refused");
        }
        for _ in 0..100 {
            let code = OneTimeCode::generate();
            assert!(OneTimeCode::parse(code.expose()).is_ok());
        }
    }

    #[test]
    fn client_addresses_group_ipv6_by_subscriber() {
        let a = ClientAddress::parse("2001:db8:1:2:aaaa::1").unwrap();
        let b = ClientAddress::parse("2001:db8:1:2:bbbb::2").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2001:db8:1:2::/64");
        assert_eq!(ClientAddress::parse("::ffff:192.0.2.7").unwrap().as_str(), "192.0.2.7");
        assert_eq!(ClientAddress::parse(" 192.0.2.7 ").unwrap().as_str(), "192.0.2.7");
        assert_eq!(ClientAddress::parse("not an address"), None);
    }
}
