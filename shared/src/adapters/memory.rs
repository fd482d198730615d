//! In-memory adapters with the same conditional-write semantics as the real ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use crate::domain::Email;
use crate::email::EmailJob;
use crate::ports::{EmailQueue, QueueError, StoreError, UserStore};
use crate::user::{CodeSendLog, User};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts `record` under `key` if the stored version (0 = absent) is `expected`.
fn conditional_put<T: Clone>(
    map: &Mutex<HashMap<Email, T>>,
    key: &Email,
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

#[derive(Debug, Default)]
pub struct MemoryUserStore {
    users: Mutex<HashMap<Email, User>>,
    send_logs: Mutex<HashMap<Email, CodeSendLog>>,
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        conditional_put(&self.users, &user.email, user, 0, |u| u.version)
    }

    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(lock(&self.users).get(email).cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        if lock(&self.users).get(&user.email).is_none() {
            return Err(StoreError::Conflict);
        }
        conditional_put(&self.users, &user.email, user, user.version - 1, |u| u.version)
    }

    async fn delete_user(&self, user: &User) -> Result<(), StoreError> {
        let mut users = lock(&self.users);
        match users.get(&user.email) {
            Some(stored) if stored.version == user.version => {
                users.remove(&user.email);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn find_send_log(&self, email: &Email) -> Result<Option<CodeSendLog>, StoreError> {
        Ok(lock(&self.send_logs).get(email).cloned())
    }

    async fn save_send_log(&self, log: &CodeSendLog) -> Result<(), StoreError> {
        conditional_put(&self.send_logs, &log.email, log, log.version - 1, |l| l.version)
    }
}

/// Collects jobs; can be told to fail, to exercise compensation paths.
#[derive(Debug, Default)]
pub struct MemoryEmailQueue {
    jobs: Mutex<Vec<EmailJob>>,
    failing: AtomicBool,
}

impl MemoryEmailQueue {
    pub fn jobs(&self) -> Vec<EmailJob> {
        lock(&self.jobs).clone()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl EmailQueue for MemoryEmailQueue {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), QueueError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError("the in-memory queue was told to fail".into()));
        }
        lock(&self.jobs).push(job.clone());
        Ok(())
    }
}
