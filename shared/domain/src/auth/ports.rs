//! What accounts need from the outside world.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::ports::StoreError;
use crate::user::User;
use crate::values::{Email, UserId};

/// Verified accounts, keyed by address.
///
/// Every write is conditional on `version`: a create succeeds only if nothing
/// is stored under the address, an update only if the stored version is
/// `record.version - 1`, a delete only if it is `record.version`.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError>;
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
    async fn delete_user(&self, user: &User) -> Result<(), StoreError>;
}

/// A small, short-lived document kept beside the users: registrations
/// waiting for their code, reset codes, code-send logs, failure counters.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub body: serde_json::Value,
    /// 1 when created, +1 on every write.
    pub version: u64,
    /// After this the store may remove it (DynamoDB's TTL is lazy: readers
    /// must not rely on expired records being gone).
    pub expires_at: OffsetDateTime,
}

/// Versioned documents under string keys, written conditionally like users.
#[async_trait]
pub trait RecordStore: Send + Sync {
    async fn find_record(&self, key: &str) -> Result<Option<StoredRecord>, StoreError>;
    /// Saves `record` if the stored version is `record.version - 1` (0 = none).
    async fn save_record(&self, key: &str, record: &StoredRecord) -> Result<(), StoreError>;
}

/// Everything an account owns besides itself (jobs, images, results), so
/// that deleting the account can remove it.
#[async_trait]
pub trait AccountContent: Send + Sync {
    /// Removes all of it; answers how many jobs went. Safe to repeat.
    async fn delete_all(&self, owner: &UserId) -> Result<usize, StoreError>;
}
