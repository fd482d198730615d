//! The auth domain against in-memory adapters.

use std::sync::Arc;

use time::Duration;

use super::*;
use crate::adapters::memory::{MemoryEmailQueue, MemoryUserStore};
use crate::clock::ManualClock;

struct Harness {
    service: AuthService,
    users: Arc<MemoryUserStore>,
    emails: Arc<MemoryEmailQueue>,
    clock: Arc<ManualClock>,
}

fn harness() -> Harness {
    let users = Arc::new(MemoryUserStore::default());
    let emails = Arc::new(MemoryEmailQueue::default());
    let clock = Arc::new(ManualClock::default());
    let tokens = TokenService::new(&[7; 32], "issuer", "audience", Duration::hours(1));
    let service = AuthService::new(users.clone(), emails.clone(), tokens, clock.clone(), vec![1; 32]);
    Harness { service, users, emails, clock }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn registration(address: &str, password: &str) -> Registration {
    Registration {
        name: PersonName::parse("Ada").unwrap(),
        email: email(address),
        password: Password::parse(password).unwrap(),
    }
}

impl Harness {
    fn last_code_for(&self, address: &str) -> OneTimeCode {
        let job = self.emails.jobs().into_iter().rev().find(|j| j.to.as_str() == address).expect("no e-mail job");
        let EmailMessage::VerifyCode { code, .. } = job.message else { panic!("not a code e-mail") };
        OneTimeCode::parse(&code).unwrap()
    }

    async fn registered_and_verified(&self, address: &str, password: &str) {
        self.service.register(registration(address, password)).await.unwrap();
        let code = self.last_code_for(address);
        self.service.verify(&email(address), &code).await.unwrap();
    }
}

fn wrong_code(right: &OneTimeCode) -> OneTimeCode {
    let n: u32 = right.expose().parse().unwrap();
    OneTimeCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).unwrap()
}

#[tokio::test]
async fn register_verify_login_profile() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    let jobs = h.emails.jobs();
    assert_eq!(jobs.len(), 1);
    let EmailMessage::VerifyCode { name, expires_in_minutes, .. } = &jobs[0].message else {
        panic!("not a code e-mail")
    };
    assert_eq!((name.as_str(), *expires_in_minutes), ("Ada", 10));

    let pass = PasswordAttempt::try_from("analytical engine".to_string()).unwrap();
    assert!(matches!(h.service.login(&email("ada@example.org"), &pass).await, Err(AuthError::NotVerified)));

    let code = h.last_code_for("ada@example.org");
    h.service.verify(&email("ada@example.org"), &code).await.unwrap();
    // Single use.
    assert!(matches!(h.service.verify(&email("ada@example.org"), &code).await, Err(AuthError::InvalidCode)));

    let token = h.service.login(&email("ada@example.org"), &pass).await.unwrap();
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.expires_in, 3600);
    let claims = h.service.tokens().verify(&token.access_token).unwrap();
    let profile = h.service.profile(&claims).await.unwrap();
    assert_eq!(profile.email.as_str(), "ada@example.org");
    assert!(profile.verified);
}

#[tokio::test]
async fn the_code_is_stored_only_as_a_keyed_hash() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    let code = h.last_code_for("ada@example.org");
    let user = h.users.find_user(&email("ada@example.org")).await.unwrap().unwrap();
    let pending = user.pending_code.unwrap();
    assert_eq!(pending.hash.len(), 32);
    assert_ne!(pending.hash, code.expose().as_bytes());
    assert!(user.password_hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn wrong_credentials_look_the_same_for_unknown_and_known_addresses() {
    let h = harness();
    h.registered_and_verified("ada@example.org", "analytical engine").await;
    let wrong = PasswordAttempt::try_from("difference engine".to_string()).unwrap();
    let unknown = h.service.login(&email("nobody@example.org"), &wrong).await.unwrap_err();
    let known = h.service.login(&email("ada@example.org"), &wrong).await.unwrap_err();
    assert!(matches!(unknown, AuthError::InvalidCredentials));
    assert!(matches!(known, AuthError::InvalidCredentials));
}

#[tokio::test]
async fn registering_a_verified_address_again_changes_nothing_and_sends_nothing() {
    let h = harness();
    h.registered_and_verified("ada@example.org", "analytical engine").await;
    let before = h.users.find_user(&email("ada@example.org")).await.unwrap();
    h.clock.advance(Duration::hours(2));
    h.service.register(registration("ada@example.org", "someone elses pw")).await.unwrap();
    assert_eq!(h.users.find_user(&email("ada@example.org")).await.unwrap(), before);
    assert_eq!(h.emails.jobs().len(), 1);
}

#[tokio::test]
async fn re_registering_an_unverified_address_sends_a_new_code_for_the_new_password() {
    let h = harness();
    h.service.register(registration("ada@example.org", "first password")).await.unwrap();
    let first = h.last_code_for("ada@example.org");
    h.clock.advance(Duration::minutes(2));
    h.service.register(registration("ada@example.org", "second password")).await.unwrap();
    let second = h.last_code_for("ada@example.org");
    assert_eq!(h.emails.jobs().len(), 2);
    if first != second {
        assert!(matches!(h.service.verify(&email("ada@example.org"), &first).await, Err(AuthError::InvalidCode)));
    }
    h.service.verify(&email("ada@example.org"), &second).await.unwrap();
    let pass = PasswordAttempt::try_from("second password".to_string()).unwrap();
    h.service.login(&email("ada@example.org"), &pass).await.unwrap();
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    let code = h.last_code_for("ada@example.org");
    h.clock.advance(CODE_LIFETIME);
    assert!(matches!(h.service.verify(&email("ada@example.org"), &code).await, Err(AuthError::CodeExpired)));
}

#[tokio::test]
async fn five_wrong_guesses_burn_the_code() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    let code = h.last_code_for("ada@example.org");
    let wrong = wrong_code(&code);
    for _ in 0..MAX_CODE_ATTEMPTS - 1 {
        assert!(matches!(h.service.verify(&email("ada@example.org"), &wrong).await, Err(AuthError::InvalidCode)));
    }
    assert!(matches!(h.service.verify(&email("ada@example.org"), &wrong).await, Err(AuthError::CodeAttemptsExhausted)));
    // Even the right code is refused now ...
    assert!(matches!(h.service.verify(&email("ada@example.org"), &code).await, Err(AuthError::CodeAttemptsExhausted)));
    // ... until a new one is requested.
    h.clock.advance(Duration::minutes(1));
    h.service.request_code(&email("ada@example.org")).await.unwrap();
    let fresh = h.last_code_for("ada@example.org");
    h.service.verify(&email("ada@example.org"), &fresh).await.unwrap();
}

#[tokio::test]
async fn parallel_guesses_are_all_counted() {
    let h = Arc::new(harness());
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    let code = h.last_code_for("ada@example.org");
    let wrong = wrong_code(&code);
    let guesses: Vec<_> = (0..20)
        .map(|_| {
            let h = h.clone();
            let wrong = wrong.clone();
            tokio::spawn(async move { h.service.verify(&email("ada@example.org"), &wrong).await })
        })
        .collect();
    for guess in guesses {
        assert!(guess.await.unwrap().is_err());
    }
    let user = h.users.find_user(&email("ada@example.org")).await.unwrap().unwrap();
    assert_eq!(user.pending_code.unwrap().attempts, MAX_CODE_ATTEMPTS);
}

#[tokio::test]
async fn resend_is_limited_to_one_a_minute_and_five_an_hour() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    match h.service.request_code(&email("ada@example.org")).await {
        Err(AuthError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(1))
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    for _ in 0..4 {
        h.clock.advance(Duration::minutes(1));
        h.service.request_code(&email("ada@example.org")).await.unwrap();
    }
    assert_eq!(h.emails.jobs().len(), 5);
    h.clock.advance(Duration::minutes(1));
    match h.service.request_code(&email("ada@example.org")).await {
        Err(AuthError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::minutes(55))
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
}

#[tokio::test]
async fn resend_for_unknown_addresses_is_limited_the_same_way_and_sends_nothing() {
    let h = harness();
    h.service.request_code(&email("nobody@example.org")).await.unwrap();
    assert!(matches!(h.service.request_code(&email("nobody@example.org")).await, Err(AuthError::RateLimited { .. })));
    assert!(h.emails.jobs().is_empty());
}

#[tokio::test]
async fn a_failed_enqueue_leaves_nothing_behind_and_a_retry_works() {
    let h = harness();
    h.emails.set_failing(true);
    let err = h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)));
    assert_eq!(h.users.find_user(&email("ada@example.org")).await.unwrap(), None);
    let log = h.users.find_send_log(&email("ada@example.org")).await.unwrap();
    assert!(log.is_none_or(|l| l.sent_at.is_empty()), "the failed send still counts against the limit");

    h.emails.set_failing(false);
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    assert_eq!(h.emails.jobs().len(), 1);
}

#[tokio::test]
async fn a_failed_resend_gives_its_slot_back() {
    let h = harness();
    h.service.register(registration("ada@example.org", "analytical engine")).await.unwrap();
    h.clock.advance(Duration::minutes(1));
    h.emails.set_failing(true);
    assert!(matches!(h.service.request_code(&email("ada@example.org")).await, Err(AuthError::Unavailable(_))));
    h.emails.set_failing(false);
    h.service.request_code(&email("ada@example.org")).await.unwrap();
}

#[tokio::test]
async fn tokens_for_deleted_accounts_are_refused() {
    let h = harness();
    h.registered_and_verified("ada@example.org", "analytical engine").await;
    let pass = PasswordAttempt::try_from("analytical engine".to_string()).unwrap();
    let token = h.service.login(&email("ada@example.org"), &pass).await.unwrap();
    let claims = h.service.tokens().verify(&token.access_token).unwrap();
    let user = h.users.find_user(&email("ada@example.org")).await.unwrap().unwrap();
    h.users.delete_user(&user).await.unwrap();
    assert!(matches!(h.service.profile(&claims).await, Err(AuthError::UnknownAccount)));
}
