//! In-memory adapters with the same conditional-write semantics as the real ones.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::auth::ports::{RecordStore, StoredRecord, UserStore};
use crate::auth::{AuthPorts, AuthService, CodeKey, TokenService};
use crate::clock::Clock;
use crate::email::{EmailJob, EmailQueue};
use crate::jobs::ports::{IdempotencyStore, JobPage, JobStore};
use crate::jobs::{IdempotencyKey, IdempotencyRecord};
use crate::jobs::{Job, JobId};
use crate::ports::{BlobError, BlobStore, QueueError, StoreError};
use crate::user::User;
use crate::values::{Email, UserId};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts `record` under `key` if the stored version (0 = absent) is `expected`.
fn conditional_put<K: Clone + Eq + Hash, T: Clone>(
    map: &Mutex<HashMap<K, T>>,
    key: &K,
    record: &T,
    expected: u64,
    version_of: impl Fn(&T) -> u64,
) -> Result<(), StoreError> {
    let mut map = lock(map);
    let stored = map.get(key).map(&version_of).unwrap_or(0);
    if stored != expected {
        return Err(StoreError::Conflict);
    }
    map.insert(key.clone(), record.clone());
    Ok(())
}

/// Users and records, with a log of every call (operation and kind of key,
/// never the address), so tests can compare what known and unknown
/// addresses cost.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    users: Mutex<HashMap<Email, User>>,
    records: Mutex<HashMap<String, StoredRecord>>,
    calls: Mutex<Vec<String>>,
}

impl MemoryUserStore {
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
    }

    fn log(&self, operation: &str, key: &str) {
        let kind = key.split('#').next().unwrap_or(key);
        lock(&self.calls).push(format!("{operation} {kind}"));
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.log("create", "USER");
        conditional_put(&self.users, &user.email, user, 0, |u| u.version)
    }

    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.log("find", "USER");
        Ok(lock(&self.users).get(email).cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.log("update", "USER");
        if lock(&self.users).get(&user.email).is_none() {
            return Err(StoreError::Conflict);
        }
        conditional_put(&self.users, &user.email, user, user.version - 1, |u| u.version)
    }

    async fn delete_user(&self, user: &User) -> Result<(), StoreError> {
        self.log("delete", "USER");
        let mut users = lock(&self.users);
        match users.get(&user.email) {
            Some(stored) if stored.version == user.version => {
                users.remove(&user.email);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }
}

#[async_trait]
impl RecordStore for MemoryUserStore {
    async fn find_record(&self, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        self.log("find", key);
        Ok(lock(&self.records).get(key).cloned())
    }

    async fn save_record(&self, key: &str, record: &StoredRecord) -> Result<(), StoreError> {
        self.log("save", key);
        conditional_put(&self.records, &key.to_owned(), record, record.version - 1, |r| r.version)
    }
}

/// Collects jobs; can be told to fail, to exercise compensation paths.
#[derive(Debug, Default)]
pub struct MemoryEmailQueue {
    jobs: Mutex<Vec<EmailJob>>,
    failing: AtomicBool,
    delay_ms: std::sync::atomic::AtomicU64,
}

impl MemoryEmailQueue {
    pub fn jobs(&self) -> Vec<EmailJob> {
        lock(&self.jobs).clone()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every enqueue takes this long, as a real queue's round trip does:
    /// long enough for requests running beside it to get in between.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

#[async_trait]
impl EmailQueue for MemoryEmailQueue {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), QueueError> {
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError("the in-memory queue was told to fail".into()));
        }
        lock(&self.jobs).push(job.clone());
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemoryJobStore {
    jobs: Mutex<HashMap<(UserId, JobId), Job>>,
    keys: Mutex<HashMap<(UserId, String), (IdempotencyRecord, u64)>>,
    pages_by_day: Mutex<HashMap<(UserId, time::Date), u32>>,
}

#[async_trait]
impl IdempotencyStore for MemoryJobStore {
    async fn find_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(IdempotencyRecord, u64)>, StoreError> {
        Ok(lock(&self.keys).get(&(*owner, key.as_str().to_owned())).cloned())
    }

    async fn save_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
        record: &IdempotencyRecord,
        version: u64,
    ) -> Result<(), StoreError> {
        let entry = (record.clone(), version);
        conditional_put(&self.keys, &(*owner, key.as_str().to_owned()), &entry, version - 1, |(_, v)| *v)
    }

    async fn delete_key(&self, owner: &UserId, key: &IdempotencyKey) -> Result<(), StoreError> {
        lock(&self.keys).remove(&(*owner, key.as_str().to_owned()));
        Ok(())
    }

    async fn delete_all_keys(&self, owner: &UserId) -> Result<usize, StoreError> {
        let mut keys = lock(&self.keys);
        let before = keys.len();
        keys.retain(|(key_owner, _), _| key_owner != owner);
        Ok(before - keys.len())
    }
}

impl MemoryJobStore {
    pub fn all(&self) -> Vec<Job> {
        lock(&self.jobs).values().cloned().collect()
    }
}

#[async_trait]
impl JobStore for MemoryJobStore {
    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        conditional_put(&self.jobs, &(job.owner, job.id), job, 0, |j| j.version)
    }

    async fn find_job(&self, owner: &UserId, id: &JobId) -> Result<Option<Job>, StoreError> {
        Ok(lock(&self.jobs).get(&(*owner, *id)).cloned())
    }

    async fn update_job(&self, job: &Job) -> Result<(), StoreError> {
        if job.version < 2 {
            return Err(StoreError::Conflict);
        }
        conditional_put(&self.jobs, &(job.owner, job.id), job, job.version - 1, |j| j.version)
    }

    async fn delete_job(&self, job: &Job) -> Result<(), StoreError> {
        let mut jobs = lock(&self.jobs);
        match jobs.get(&(job.owner, job.id)) {
            Some(stored) if stored.version == job.version => {
                jobs.remove(&(job.owner, job.id));
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn list_jobs(&self, owner: &UserId, after: Option<JobId>, limit: usize) -> Result<JobPage, StoreError> {
        let jobs = lock(&self.jobs);
        let mut mine: Vec<Job> =
            jobs.values().filter(|j| j.owner == *owner && after.is_none_or(|a| j.id < a)).cloned().collect();
        mine.sort_by_key(|job| std::cmp::Reverse(job.id));
        let more = mine.len() > limit;
        mine.truncate(limit);
        let next = if more { mine.last().map(|j| j.id) } else { None };
        Ok(JobPage { jobs: mine, next })
    }

    async fn recent_jobs(
        &self,
        owner: &UserId,
        since: time::OffsetDateTime,
    ) -> Result<Vec<crate::jobs::ports::JobWeight>, StoreError> {
        let jobs = lock(&self.jobs);
        Ok(jobs
            .values()
            .filter(|j| j.owner == *owner && j.created_at >= since)
            .map(|j| crate::jobs::ports::JobWeight {
                status: j.status,
                created_at: j.created_at,
                pages_total: j.pages_total,
            })
            .collect())
    }

    async fn charge_pages(
        &self,
        owner: &UserId,
        day: time::Date,
        pages: u32,
        limit: u32,
    ) -> Result<crate::jobs::ports::PageCharge, StoreError> {
        use crate::jobs::ports::PageCharge;
        let mut days = lock(&self.pages_by_day);
        let used = days.entry((*owner, day)).or_default();
        Ok(match used.checked_add(pages).filter(|&sum| sum <= limit) {
            Some(sum) => {
                *used = sum;
                PageCharge::Charged { used: sum }
            }
            None => PageCharge::Over { used: *used },
        })
    }

    async fn forget_page_counts(&self, owner: &UserId) -> Result<(), StoreError> {
        lock(&self.pages_by_day).retain(|(who, _), _| who != owner);
        Ok(())
    }
}

/// Objects in memory; failing or never-ending puts exercise compensation
/// and abandoned requests.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
    failing_puts: AtomicBool,
    stalling_puts: AtomicBool,
}

impl MemoryBlobStore {
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }

    pub fn set_failing_puts(&self, failing: bool) {
        self.failing_puts.store(failing, Ordering::SeqCst);
    }

    /// Puts that never finish, as when a client gives up mid-request.
    pub fn set_stalling_puts(&self, stalling: bool) {
        self.stalling_puts.store(stalling, Ordering::SeqCst);
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        if self.failing_puts.load(Ordering::SeqCst) {
            return Err(BlobError::Unavailable("the in-memory blob store was told to fail".into()));
        }
        if self.stalling_puts.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        lock(&self.objects).insert(key.to_owned(), (bytes, content_type.to_owned()));
        Ok(())
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let objects = lock(&self.objects);
        let (bytes, _) = objects.get(key).ok_or(BlobError::NotFound)?;
        if bytes.len() as u64 > max_bytes {
            return Err(BlobError::TooLarge(max_bytes));
        }
        Ok(bytes.clone())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        lock(&self.objects).remove(key);
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError> {
        Ok(format!("memory://{key}?content-type={content_type}&length={length}&expires={}", expires_in.as_secs()))
    }

    async fn presign_get(
        &self,
        key: &str,
        file_name: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError> {
        Ok(format!("memory://{key}?download={file_name}&expires={}", expires_in.as_secs()))
    }
}

/// Records the jobs handed on to another worker.
#[derive(Debug, Default)]
pub struct MemoryJobQueue {
    continued: Mutex<Vec<(UserId, JobId)>>,
}

impl MemoryJobQueue {
    /// The jobs handed on, emptying the list.
    pub fn take(&self) -> Vec<(UserId, JobId)> {
        std::mem::take(&mut *lock(&self.continued))
    }
}

#[async_trait]
impl crate::jobs::ports::JobQueue for MemoryJobQueue {
    async fn continue_job(&self, owner: &UserId, id: &JobId) -> Result<(), QueueError> {
        lock(&self.continued).push((*owner, *id));
        Ok(())
    }
}

/// Records sent mail; can be told to reject or to be unavailable.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<(Email, crate::notify::RenderedEmail)>>,
    rejecting: AtomicBool,
    unavailable: AtomicBool,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<(Email, crate::notify::RenderedEmail)> {
        lock(&self.sent).clone()
    }

    pub fn set_rejecting(&self, on: bool) {
        self.rejecting.store(on, Ordering::SeqCst);
    }

    pub fn set_unavailable(&self, on: bool) {
        self.unavailable.store(on, Ordering::SeqCst);
    }
}

#[async_trait]
impl crate::notify::Mailer for MemoryMailer {
    async fn send(&self, to: &Email, email: &crate::notify::RenderedEmail) -> Result<(), crate::notify::MailError> {
        if self.rejecting.load(Ordering::SeqCst) {
            return Err(crate::notify::MailError::Rejected("told to reject".into()));
        }
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(crate::notify::MailError::Unavailable("told to be unavailable".into()));
        }
        lock(&self.sent).push((to.clone(), email.clone()));
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeliveryState {
    Sending(time::OffsetDateTime, uuid::Uuid),
    Sent,
}

#[derive(Debug, Default)]
pub struct MemoryDeliveryLog {
    entries: Mutex<HashMap<uuid::Uuid, DeliveryState>>,
}

#[async_trait]
impl crate::notify::DeliveryLog for MemoryDeliveryLog {
    async fn claim(
        &self,
        id: uuid::Uuid,
        holder: uuid::Uuid,
        now: time::OffsetDateTime,
        lease: time::Duration,
    ) -> Result<crate::notify::Claim, StoreError> {
        use crate::notify::Claim;
        let mut entries = lock(&self.entries);
        match entries.get(&id) {
            Some(DeliveryState::Sent) => Ok(Claim::AlreadySent),
            Some(DeliveryState::Sending(since, _)) if *since + lease > now => Ok(Claim::InFlight),
            _ => {
                entries.insert(id, DeliveryState::Sending(now, holder));
                Ok(Claim::Claimed)
            }
        }
    }

    async fn mark_sent(&self, id: uuid::Uuid, _now: time::OffsetDateTime) -> Result<(), StoreError> {
        lock(&self.entries).insert(id, DeliveryState::Sent);
        Ok(())
    }

    async fn release(&self, id: uuid::Uuid, holder: uuid::Uuid) -> Result<(), StoreError> {
        let mut entries = lock(&self.entries);
        if matches!(entries.get(&id), Some(DeliveryState::Sending(_, by)) if *by == holder) {
            entries.remove(&id);
        }
        Ok(())
    }
}

/// Collects parked messages.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    parked: Mutex<Vec<(String, String)>>,
}

impl MemoryDeadLetters {
    pub fn parked(&self) -> Vec<(String, String)> {
        lock(&self.parked).clone()
    }
}

#[async_trait]
impl crate::ports::DeadLetters for MemoryDeadLetters {
    async fn park(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        lock(&self.parked).push((body.to_owned(), reason.to_owned()));
        Ok(())
    }
}

/// The messages sent back to a worker's queue; failing on request.
#[derive(Debug, Default)]
pub struct MemorySourceQueue {
    sent: Mutex<Vec<String>>,
    failing: AtomicBool,
}

impl MemorySourceQueue {
    pub fn sent(&self) -> Vec<String> {
        lock(&self.sent).clone()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl crate::ports::SourceQueue for MemorySourceQueue {
    async fn send_again(&self, body: &str) -> Result<(), QueueError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError("the in-memory source queue was told to fail".into()));
        }
        lock(&self.sent).push(body.to_owned());
        Ok(())
    }
}

/// An auth service wholly in memory (users, records, jobs, images), for
/// tests of the HTTP layer; e-mail jobs land in `emails`.
pub fn auth_service(emails: Arc<MemoryEmailQueue>, clock: Arc<dyn Clock>) -> AuthService {
    let users = Arc::new(MemoryUserStore::default());
    let job_store = Arc::new(MemoryJobStore::default());
    let content =
        super::account_content::JobsOfAccount::new(job_store.clone(), job_store, Arc::new(MemoryBlobStore::default()));
    let ports = AuthPorts { users: users.clone(), records: users, emails, content: Arc::new(content), clock };
    let tokens = TokenService::new(&[9; 32], "issuer", "audience", time::Duration::hours(1));
    AuthService::new(ports, tokens, CodeKey::new(vec![3; 32]))
}

/// Every caller's account exists: for benches and tests that are not about
/// accounts (those use a [`MemoryUserStore`], which is [`Accounts`] too).
///
/// [`Accounts`]: crate::jobs::ports::Accounts
#[derive(Debug, Default)]
pub struct EveryAccountExists;

#[async_trait]
impl crate::jobs::ports::Accounts for EveryAccountExists {
    async fn exists(&self, _: &crate::jobs::Owner) -> Result<bool, StoreError> {
        Ok(true)
    }
}
