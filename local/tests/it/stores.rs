//! The DynamoDB adapters against the emulator when an answer is lost: the
//! SDK sends the write again, and a write that had landed must not come back
//! as a conflict (the browser test once saw "sign out everywhere" answer 401
//! that way: the revocation landed, its answer timed out, the retry's
//! version check failed against it, and the retried use case found its own
//! token revoked).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::TestApp;
use aws_adapters::dynamodb::DynamoUserStore;
use aws_adapters::dynamodb_deliveries::DynamoDeliveryLog;
use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use domain::auth::ports::{RecordStore, StoredRecord, UserStore};
use domain::notify::{Claim, DeliveryLog};
use domain::ports::StoreError;
use domain::user::User;
use domain::values::{Email, PersonName, UserId};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// Turns the next `n` successful answers into 500s after the write landed:
/// what a timeout or a failing load balancer does to a real call.
#[derive(Debug, Clone, Default)]
struct LoseAnswers(Arc<AtomicUsize>);

impl LoseAnswers {
    fn next(&self, n: usize) {
        self.0.store(n, Ordering::SeqCst);
    }

    fn left(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Intercept for LoseAnswers {
    fn name(&self) -> &'static str {
        "LoseAnswers"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let landed = context.response().status().is_success();
        if landed && self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            *context.response_mut().status_mut() = 500u16.try_into().expect("500 is a status");
        }
        Ok(())
    }
}

struct Stores {
    lose: LoseAnswers,
    users: DynamoUserStore,
    deliveries: DynamoDeliveryLog,
}

fn stores(app: &TestApp) -> Stores {
    let lose = LoseAnswers::default();
    let config =
        aws_sdk_dynamodb::config::Builder::from(app.system.clients.sdk_config()).interceptor(lose.clone()).build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = |name: &str| app.system.stack.reference(name).unwrap().to_owned();
    Stores {
        lose,
        users: DynamoUserStore::new(client.clone(), table("UsersTable")),
        deliveries: DynamoDeliveryLog::new(client, table("SentEmailsTable")),
    }
}

fn a_user() -> User {
    User {
        id: UserId::new(),
        email: Email::parse(&crate::common::unique_email()).unwrap(),
        name: PersonName::parse("Ada").unwrap(),
        password_hash: "not a real hash".into(),
        created_at: OffsetDateTime::now_utc().replace_nanosecond(0).unwrap(),
        credentials_version: 1,
        version: 1,
    }
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_done_not_a_conflict() {
    let app = TestApp::spawn().await;
    let Stores { lose, users, deliveries } = stores(&app);

    // Create, update and delete an account, each losing its first answer.
    let user = a_user();
    lose.next(1);
    users.create_user(&user).await.expect("a created account whose answer was lost");
    assert_eq!(lose.left(), 0, "no answer was lost: the test proves nothing");
    assert_eq!(users.find_user(&user.email).await.unwrap().as_ref(), Some(&user));

    let mut revoked = user.next_version();
    revoked.credentials_version += 1;
    lose.next(1);
    users.update_user(&revoked).await.expect("an update whose answer was lost");
    assert_eq!(lose.left(), 0);
    assert_eq!(users.find_user(&user.email).await.unwrap().as_ref(), Some(&revoked));

    // Versioned records (codes, throttles, idempotency keys) likewise.
    let key = format!("TEST#{}", UserId::new());
    let expires_at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::hours(1);
    let first = StoredRecord { body: json!({"n": 1}), version: 1, expires_at };
    let second = StoredRecord { body: json!({"n": 2}), version: 2, expires_at };
    for record in [&first, &second] {
        lose.next(1);
        users.save_record(&key, record).await.expect("a record whose answer was lost");
        assert_eq!(lose.left(), 0);
    }
    assert_eq!(users.find_record(&key).await.unwrap().map(|r| r.body), Some(json!({"n": 2})));

    // An e-mail's delivery claim: ours, not "in flight" (which would hold
    // the mail back until the lease ran out).
    lose.next(1);
    let claim = deliveries
        .claim(uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), OffsetDateTime::now_utc(), Duration::minutes(5))
        .await;
    assert_eq!(lose.left(), 0);
    assert_eq!(claim.unwrap(), Claim::Claimed);

    lose.next(1);
    users.delete_user(&revoked).await.expect("a delete whose answer was lost");
    assert_eq!(lose.left(), 0);
    assert_eq!(users.find_user(&user.email).await.unwrap(), None);
}

#[tokio::test]
async fn a_real_conflict_is_still_a_conflict() {
    let app = TestApp::spawn().await;
    let Stores { users, deliveries, .. } = stores(&app);

    let user = a_user();
    users.create_user(&user).await.unwrap();
    let mut other = a_user();
    other.email = user.email.clone();
    assert!(matches!(users.create_user(&other).await, Err(StoreError::Conflict)), "a second account, one address");

    let newer = user.next_version();
    users.update_user(&newer).await.unwrap();
    let stale = User { name: PersonName::parse("Stale").unwrap(), ..user.next_version() };
    assert!(matches!(users.update_user(&stale).await, Err(StoreError::Conflict)), "an update from a stale read");
    assert!(matches!(users.delete_user(&user).await, Err(StoreError::Conflict)), "a delete from a stale read");
    assert_eq!(users.find_user(&user.email).await.unwrap().as_ref(), Some(&newer), "nothing changed");

    let key = format!("TEST#{}", UserId::new());
    let expires_at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::hours(1);
    let record = StoredRecord { body: json!({"n": 1}), version: 1, expires_at };
    users.save_record(&key, &record).await.unwrap();
    let rival = StoredRecord { body: json!({"n": "rival"}), ..record };
    assert!(matches!(users.save_record(&key, &rival).await, Err(StoreError::Conflict)));

    let id = uuid::Uuid::new_v4();
    let now = OffsetDateTime::now_utc();
    let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    assert_eq!(deliveries.claim(id, first, now, Duration::minutes(5)).await.unwrap(), Claim::Claimed);
    assert_eq!(deliveries.claim(id, second, now, Duration::minutes(5)).await.unwrap(), Claim::InFlight);
    // Only its holder releases a claim.
    deliveries.release(id, second).await.unwrap();
    assert_eq!(deliveries.claim(id, second, now, Duration::minutes(5)).await.unwrap(), Claim::InFlight);
    deliveries.release(id, first).await.unwrap();
    assert_eq!(deliveries.claim(id, second, now, Duration::minutes(5)).await.unwrap(), Claim::Claimed);
}
