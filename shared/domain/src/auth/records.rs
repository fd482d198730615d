//! Typed, versioned documents over the [`RecordStore`] port, and their keys.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::auth::ports::{RecordStore, StoredRecord};
use crate::ports::StoreError;
use crate::values::{ClientAddress, Email};

/// A document as read, with the version its next write is conditional on
/// (0: nothing stored yet).
#[derive(Debug, Clone)]
pub(crate) struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

pub(crate) struct Records(Arc<dyn RecordStore>);

impl Records {
    pub fn new(store: Arc<dyn RecordStore>) -> Self {
        Self(store)
    }

    /// The document under `key`, or the type's empty value.
    pub async fn load<T: DeserializeOwned + Default>(&self, key: &str) -> Result<Versioned<T>, StoreError> {
        match self.0.find_record(key).await? {
            None => Ok(Versioned { value: T::default(), version: 0 }),
            Some(record) => serde_json::from_value(record.body)
                .map(|value| Versioned { value, version: record.version })
                .map_err(|e| StoreError::Unavailable(format!("the stored record {key} is malformed: {e}").into())),
        }
    }

    /// Writes the document if nobody else did since it was read.
    pub async fn save<T: Serialize>(
        &self,
        key: &str,
        record: &mut Versioned<T>,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_value(&record.value).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let next = record.version + 1;
        self.0.save_record(key, &StoredRecord { body, version: next, expires_at }).await?;
        record.version = next;
        Ok(())
    }
}

/// Codes mailed to `email` for one purpose, from one source or (`None`)
/// from all.
pub(crate) fn sends(purpose: &str, email: &Email, source: Option<&ClientAddress>) -> String {
    match source {
        Some(source) => format!("SENDS#{purpose}#{email}#{source}"),
        None => format!("SENDS#{purpose}#{email}"),
    }
}

pub(crate) fn pending(email: &Email) -> String {
    format!("PENDING#{email}")
}

pub(crate) fn reset(email: &Email) -> String {
    format!("RESET#{email}")
}

pub(crate) fn account_failures(email: &Email) -> String {
    format!("FAILS#account#{email}")
}

pub(crate) fn account_failures_from(email: &Email, source: &ClientAddress) -> String {
    format!("FAILS#account#{email}#{source}")
}

/// A source from which the account's owner proved who they are.
pub(crate) fn known_source(email: &Email, source: &ClientAddress) -> String {
    format!("KNOWN#{email}#{source}")
}

pub(crate) fn source_failures(source: &ClientAddress) -> String {
    format!("FAILS#source#{source}")
}
