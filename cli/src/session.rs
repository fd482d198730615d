//! The signed-in sessions, one per API address, in the user's config
//! directory (`$OCR_CONFIG_DIR`, else e.g. `~/.config/ocr`): a file only
//! its owner can read, since it holds bearer tokens.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const FILE_NAME: &str = "sessions.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub email: String,
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Session {
    pub fn new(email: &str, access_token: String, expires_in: i64) -> Self {
        let expires_at = token_expiry(&access_token).unwrap_or(OffsetDateTime::now_utc().unix_timestamp() + expires_in);
        Self { email: email.to_owned(), access_token, expires_at }
    }

    /// Expired, or about to: a request made with it could be refused.
    pub fn is_expired(&self) -> bool {
        self.expires_at <= OffsetDateTime::now_utc().unix_timestamp() + 30
    }
}

/// The `exp` claim of a JWT, read without checking its signature (that is
/// the service's job; this only avoids sending a token known to be stale).
fn token_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_i64()
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sessions {
    #[serde(default)]
    by_api: BTreeMap<String, Session>,
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new() -> std::io::Result<Self> {
        let dir = match std::env::var_os("OCR_CONFIG_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir()
                .ok_or_else(|| std::io::Error::other("no config directory: set OCR_CONFIG_DIR"))?
                .join("ocr"),
        };
        Ok(Self { dir })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn load(&self) -> std::io::Result<Sessions> {
        match std::fs::read(self.path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!("{} is damaged ({e}); delete it and log in again", self.path().display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sessions::default()),
            Err(e) => Err(e),
        }
    }

    pub fn get(&self, api: &str) -> std::io::Result<Option<Session>> {
        Ok(self.load()?.by_api.remove(api))
    }

    pub fn put(&self, api: &str, session: Session) -> std::io::Result<()> {
        let mut sessions = self.load()?;
        sessions.by_api.insert(api.to_owned(), session);
        self.save(&sessions)
    }

    pub fn remove(&self, api: &str) -> std::io::Result<bool> {
        let mut sessions = self.load()?;
        let removed = sessions.by_api.remove(api).is_some();
        self.save(&sessions)?;
        Ok(removed)
    }

    /// Written whole to a private temporary file, then renamed: never a
    /// half-written file, never a moment readable by others.
    fn save(&self, sessions: &Sessions) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let temporary = self.dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
        let mut file = private_file(&temporary)?;
        file.write_all(&serde_json::to_vec_pretty(sessions).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&temporary, self.path())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_read_from_the_token() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"x","exp":1900000000}"#);
        let session = Session::new("a@example.org", format!("h.{claims}.s"), 60);
        assert_eq!(session.expires_at, 1_900_000_000);
        let opaque = Session::new("a@example.org", "not-a-jwt".into(), 60);
        assert!(!opaque.is_expired());
        assert!(Session { expires_at: 0, ..opaque }.is_expired());
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_and_keeps_one_session_per_api() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store { dir: dir.path().join("ocr") };
        store.put("http://a", Session::new("a@example.org", "t1".into(), 60)).unwrap();
        store.put("http://b", Session::new("b@example.org", "t2".into(), 60)).unwrap();
        assert_eq!(std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&store.dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(store.get("http://a").unwrap().unwrap().access_token, "t1");
        assert!(store.remove("http://a").unwrap());
        assert!(store.get("http://a").unwrap().is_none());
        assert_eq!(store.get("http://b").unwrap().unwrap().email, "b@example.org");
    }
}
