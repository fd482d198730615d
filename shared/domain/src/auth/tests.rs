//! The auth domain against in-memory adapters.

use std::sync::Arc;

use serde_json::json;
use time::Duration;

use super::*;
use crate::account_content::JobsOfAccount;
use crate::auth::ports::{RecordStore, UserStore};
use crate::clock::ManualClock;
use crate::jobs::{JobService, Owner, UploadLimits};
use crate::memory::{MemoryBlobStore, MemoryEmailQueue, MemoryJobStore, MemoryUserStore};
use crate::user::User;
use crate::values::{ClientAddress, OneTimeCode, PasswordAttempt};

struct Harness {
    service: AuthService,
    users: Arc<MemoryUserStore>,
    emails: Arc<MemoryEmailQueue>,
    clock: Arc<ManualClock>,
    jobs: Arc<JobService>,
    job_store: Arc<MemoryJobStore>,
    blobs: Arc<MemoryBlobStore>,
}

const ADA: &str = "ada@example.org";
const GRACE: &str = "grace@example.org";
const PASSWORD: &str = "analytical engine";
const MALLORY_PASSWORD: &str = "mallory's own password";

fn harness() -> Harness {
    let users = Arc::new(MemoryUserStore::default());
    let emails = Arc::new(MemoryEmailQueue::default());
    let clock = Arc::new(ManualClock::default());
    let job_store = Arc::new(MemoryJobStore::default());
    let blobs = Arc::new(MemoryBlobStore::default());
    let jobs = Arc::new(JobService::new(
        job_store.clone(),
        job_store.clone(),
        blobs.clone(),
        users.clone(),
        clock.clone(),
        UploadLimits::default(),
    ));
    let tokens = TokenService::new(&[7; 32], "issuer", "audience", Duration::hours(1));
    let ports = AuthPorts {
        users: users.clone(),
        records: users.clone(),
        emails: emails.clone(),
        content: Arc::new(JobsOfAccount::new(job_store.clone(), job_store.clone(), blobs.clone())),
        clock: clock.clone(),
    };
    let service = AuthService::new(ports, tokens, CodeKey::new(vec![1; 32]));
    Harness { service, users, emails, clock, jobs, job_store, blobs }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn attempt(password: &str) -> PasswordAttempt {
    PasswordAttempt::try_from(password.to_string()).unwrap()
}

fn here() -> ClientAddress {
    ClientAddress::parse("192.0.2.1").unwrap()
}

fn registration(address: &str, password: &str) -> Registration {
    Registration {
        name: PersonName::parse("Ada").unwrap(),
        email: email(address),
        password: Password::parse(password).unwrap(),
    }
}

fn wrong_code(right: &OneTimeCode) -> OneTimeCode {
    let n: u32 = right.expose().parse().unwrap();
    OneTimeCode::parse(&format!("{:06}", (n + 1) % 1_000_000)).unwrap()
}

impl Harness {
    fn last_code_for(&self, address: &str) -> OneTimeCode {
        let job = self.emails.jobs().into_iter().rev().find(|j| j.to.as_str() == address).expect("no e-mail job");
        let code = match job.message {
            EmailMessage::VerifyCode { code, .. } | EmailMessage::PasswordResetCode { code, .. } => code,
            other => panic!("not a code e-mail: {other:?}"),
        };
        OneTimeCode::parse(&code).unwrap()
    }

    async fn register(&self, address: &str, password: &str) -> Result<(), AuthError> {
        self.service.register(&here(), registration(address, password)).await
    }

    async fn verify(&self, address: &str, code: &OneTimeCode, password: &str) -> Result<(), AuthError> {
        self.service.verify(&here(), &email(address), code, &attempt(password)).await
    }

    async fn login(&self, address: &str, password: &str) -> Result<AccessToken, AuthError> {
        self.service.login(&here(), &email(address), &attempt(password)).await
    }

    async fn signed_up(&self, address: &str, password: &str) -> Claims {
        self.register(address, password).await.unwrap();
        self.verified_and_signed_in(address, password).await
    }

    async fn verified_and_signed_in(&self, address: &str, password: &str) -> Claims {
        self.verify(address, &self.last_code_for(address), password).await.unwrap();
        let token = self.login(address, password).await.unwrap();
        self.service.guard().authenticate(&token.access_token).await.unwrap()
    }

    /// Every stored record, without versions: what "left as it was" compares.
    async fn state(&self, address: &str) -> (Option<User>, Vec<Option<serde_json::Value>>) {
        let user = self.users.find_user(&email(address)).await.unwrap().map(|u| User { version: 0, ..u });
        let e = email(address);
        let mut bodies = Vec::new();
        let no_sends = json!({"sent_at": []});
        let mut keys = Vec::new();
        for purpose in ["signup", "reset"] {
            keys.push((records::sends(purpose, &e, Some(&here())), no_sends.clone()));
            keys.push((records::sends(purpose, &e, None), no_sends.clone()));
        }
        keys.push((records::pending(&e), json!({"entries": []})));
        keys.push((records::reset(&e), json!({"code": null})));
        for (key, empty) in keys {
            let body = self.users.find_record(&key).await.unwrap().map(|r| r.body);
            bodies.push(body.filter(|b| *b != empty));
        }
        (user, bodies)
    }
}

#[tokio::test]
async fn register_verify_login_profile() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let jobs = h.emails.jobs();
    assert_eq!(jobs.len(), 1);
    let EmailMessage::VerifyCode { expires_in_minutes, .. } = &jobs[0].message else { panic!() };
    assert_eq!(*expires_in_minutes, 10);
    let rendered = crate::notify::render(&jobs[0]);
    assert!(!rendered.text.contains("Ada") && !rendered.html.contains("Ada"), "a stranger's words in our mail");
    assert!(matches!(h.login(ADA, PASSWORD).await, Err(AuthError::InvalidCredentials)), "as a wrong password");
    assert!(h.users.find_user(&email(ADA)).await.unwrap().is_none(), "no account before verification");

    let claims = h.verified_and_signed_in(ADA, PASSWORD).await;
    let profile = h.service.profile(&claims).await.unwrap();
    assert_eq!((profile.email.as_str(), profile.name.as_str()), (ADA, "Ada"));
    // Used codes are gone.
    let code = h.last_code_for(ADA);
    assert!(matches!(h.verify(ADA, &code, PASSWORD).await, Err(AuthError::InvalidCode)));
}

#[tokio::test]
async fn codes_and_waiting_passwords_are_stored_only_as_keyed_hashes() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let code = h.last_code_for(ADA);
    let stored = h.users.find_record(&records::pending(&email(ADA))).await.unwrap().unwrap().body.to_string();
    assert!(!stored.contains(code.expose()) && !stored.contains(PASSWORD), "{stored}");
}

#[tokio::test]
async fn a_stranger_who_registers_the_victims_address_cannot_take_it_over() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let victims_code = h.last_code_for(ADA);
    h.clock.advance(Duration::minutes(1));
    // Mallory registers Ada's address with her own password: the code goes to Ada.
    h.register(ADA, MALLORY_PASSWORD).await.unwrap();
    let second_code = h.last_code_for(ADA);
    assert_ne!(second_code.expose(), victims_code.expose());
    // Ada types the newest code she got, with her password: refused, nothing activated.
    assert!(matches!(h.verify(ADA, &second_code, PASSWORD).await, Err(AuthError::InvalidCode)));
    assert!(h.users.find_user(&email(ADA)).await.unwrap().is_none());
    // Mallory cannot use Ada's code with her password either.
    assert!(matches!(h.verify(ADA, &victims_code, MALLORY_PASSWORD).await, Err(AuthError::InvalidCode)));
    // Ada's own code still works, and activates her password only.
    h.verify(ADA, &victims_code, PASSWORD).await.unwrap();
    h.login(ADA, PASSWORD).await.unwrap();
    assert!(matches!(h.login(ADA, MALLORY_PASSWORD).await, Err(AuthError::InvalidCredentials)));
    // And Mallory's registration is gone with the verification.
    assert!(matches!(h.verify(ADA, &second_code, MALLORY_PASSWORD).await, Err(AuthError::InvalidCode)));
}

#[tokio::test]
async fn a_stranger_cannot_burn_someone_elses_code() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let code = h.last_code_for(ADA);
    for _ in 0..10 {
        let guess = wrong_code(&code);
        assert!(matches!(h.verify(ADA, &guess, "a guessed password").await, Err(AuthError::InvalidCode)));
        assert!(matches!(h.verify(ADA, &code, "a guessed password").await, Err(AuthError::InvalidCode)));
    }
    h.verify(ADA, &code, PASSWORD).await.unwrap();
}

#[tokio::test]
async fn five_wrong_guesses_burn_the_code_with_the_same_answer_as_an_unknown_one() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let code = h.last_code_for(ADA);
    for _ in 0..MAX_CODE_ATTEMPTS {
        assert!(matches!(h.verify(ADA, &wrong_code(&code), PASSWORD).await, Err(AuthError::InvalidCode)));
    }
    assert!(matches!(h.verify(ADA, &code, PASSWORD).await, Err(AuthError::InvalidCode)));
    // A new code (resend, with the registration's password) works again.
    h.clock.advance(Duration::minutes(1));
    h.service.request_code(&here(), &email(ADA), &attempt(PASSWORD)).await.unwrap();
    h.verify(ADA, &h.last_code_for(ADA), PASSWORD).await.unwrap();
}

#[tokio::test]
async fn parallel_guesses_are_all_counted() {
    let h = Arc::new(harness());
    h.register(ADA, PASSWORD).await.unwrap();
    let code = h.last_code_for(ADA);
    let guesses: Vec<_> = (1..=20)
        .map(|i| {
            let h = h.clone();
            let guess =
                OneTimeCode::parse(&format!("{:06}", (code.expose().parse::<u32>().unwrap() + i) % 1_000_000)).unwrap();
            tokio::spawn(async move { h.verify(ADA, &guess, PASSWORD).await })
        })
        .collect();
    for guess in guesses {
        assert!(guess.await.unwrap().is_err());
    }
    assert!(matches!(h.verify(ADA, &code, PASSWORD).await, Err(AuthError::InvalidCode)), "burned");
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    let code = h.last_code_for(ADA);
    h.clock.advance(CODE_LIFETIME);
    assert!(matches!(h.verify(ADA, &code, PASSWORD).await, Err(AuthError::InvalidCode)));
}

#[tokio::test]
async fn registering_again_inside_the_limit_is_answered_alike_and_sends_nothing() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    h.register(ADA, PASSWORD).await.unwrap();
    h.service.request_code(&here(), &email(ADA), &attempt(PASSWORD)).await.unwrap();
    h.register("nobody@example.org", PASSWORD).await.unwrap();
    h.register("nobody@example.org", PASSWORD).await.unwrap();
    let sent: Vec<_> = h.emails.jobs().iter().map(|j| j.to.to_string()).collect();
    assert_eq!(sent, [ADA, "nobody@example.org"], "one code a minute per address and source");
}

#[tokio::test]
async fn resend_is_limited_to_one_a_minute_and_five_an_hour() {
    let h = harness();
    h.register(ADA, PASSWORD).await.unwrap();
    for _ in 0..6 {
        h.clock.advance(Duration::minutes(1));
        h.service.request_code(&here(), &email(ADA), &attempt(PASSWORD)).await.unwrap();
    }
    assert_eq!(h.emails.jobs().len(), 5, "the sixth code in an hour went out");
    h.clock.advance(Duration::minutes(55));
    h.register(ADA, PASSWORD).await.unwrap();
    assert_eq!(h.emails.jobs().len(), 6, "an hour after the first, a code goes out again");
}

#[tokio::test]
async fn a_stranger_on_other_networks_cannot_block_the_owners_codes() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    h.clock.advance(Duration::hours(2));
    let before = h.emails.jobs().len();
    // 63 reset requests from 3 networks in 4 minutes.
    for i in 0..63 {
        let stranger = ClientAddress::parse(&format!("203.0.113.{}", i % 3)).unwrap();
        h.service.forgot_password(&stranger, &email(ADA)).await.unwrap();
        if i % 16 == 15 {
            h.clock.advance(Duration::minutes(1));
        }
    }
    let strangers = h.emails.jobs().len() - before;
    assert!(strangers <= 12, "{strangers} mails for a stranger's requests");
    // The owner's reset, a new sign-up at another address, and a resend.
    h.service.forgot_password(&here(), &email(ADA)).await.unwrap();
    assert!(matches!(h.emails.jobs().last().unwrap().message, EmailMessage::PasswordResetCode { .. }));
    h.register(GRACE, PASSWORD).await.unwrap();
    assert_eq!(h.emails.jobs().last().unwrap().to.as_str(), GRACE);
}

#[tokio::test]
async fn strangers_on_many_networks_cannot_flood_one_mailbox() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    h.clock.advance(Duration::hours(2));
    let before = h.emails.jobs().len();
    for network in 0..100 {
        let stranger = ClientAddress::parse(&format!("198.51.100.{network}")).unwrap();
        h.service.forgot_password(&stranger, &email(ADA)).await.unwrap();
    }
    assert_eq!(h.emails.jobs().len() - before, 20, "the address's budget: 20 an hour");
}

/// Runs `operation` for a verified address and for an unknown one; both
/// must make the same store calls in the same order and queue one e-mail.
async fn same_calls_for_known_and_unknown<F, Fut>(operation: F)
where
    F: Fn(Arc<Harness>, &'static str) -> Fut,
    Fut: std::future::Future<Output = Result<(), AuthError>>,
{
    let h = Arc::new(harness());
    h.signed_up(ADA, PASSWORD).await;
    h.clock.advance(Duration::hours(2));
    let mut seen = Vec::new();
    for address in [ADA, "nobody@example.org"] {
        h.users.clear_calls();
        let mails_before = h.emails.jobs().len();
        let answer = operation(h.clone(), address).await;
        seen.push((format!("{answer:?}"), h.users.calls(), h.emails.jobs().len() - mails_before));
    }
    assert_eq!(seen[0], seen[1], "a known and an unknown address behave differently");
}

#[tokio::test]
async fn known_and_unknown_addresses_cost_the_same_calls() {
    same_calls_for_known_and_unknown(|h, address| async move { h.register(address, PASSWORD).await }).await;
    same_calls_for_known_and_unknown(
        |h, address| async move { h.service.forgot_password(&here(), &email(address)).await },
    )
    .await;
    same_calls_for_known_and_unknown(|h, address| async move {
        h.service.request_code(&here(), &email(address), &attempt("a guessed password")).await
    })
    .await;
    same_calls_for_known_and_unknown(|h, address| async move {
        h.service.verify(&here(), &email(address), &OneTimeCode::parse("123456").unwrap(), &attempt("guess")).await
    })
    .await;
}

#[tokio::test]
async fn a_failed_enqueue_leaves_every_account_as_it_was() {
    let h = harness();
    h.signed_up("known@example.org", PASSWORD).await;
    h.register(ADA, PASSWORD).await.unwrap();
    for (address, operation) in [
        (ADA, "register"),
        (ADA, "resend"),
        (ADA, "forgot"),
        ("known@example.org", "register"),
        ("known@example.org", "forgot"),
        ("new@example.org", "register"),
        ("new@example.org", "forgot"),
    ] {
        h.clock.advance(Duration::minutes(1));
        let before = h.state(address).await;
        h.emails.set_failing(true);
        let outcome = match operation {
            "register" => h.register(address, "another password").await,
            "resend" => h.service.request_code(&here(), &email(address), &attempt(PASSWORD)).await,
            _ => h.service.forgot_password(&here(), &email(address)).await,
        };
        h.emails.set_failing(false);
        assert!(matches!(outcome, Err(AuthError::Unavailable(_))), "{operation} {address}: {outcome:?}");
        assert_eq!(h.state(address).await, before, "{operation} changed {address} although no e-mail went out");
    }
    // The failures did not count against the send limit, and Ada's first code still works.
    h.register("new@example.org", PASSWORD).await.unwrap();
    let first_code = h.emails.jobs().iter().find_map(|j| match &j.message {
        EmailMessage::VerifyCode { code, .. } if j.to.as_str() == ADA => Some(code.clone()),
        _ => None,
    });
    h.verify(ADA, &OneTimeCode::parse(&first_code.unwrap()).unwrap(), PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_lockout_follows_five_failures_and_refuses_even_the_right_password() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    for address in [ADA, "nobody@example.org"] {
        for _ in 0..6 {
            assert!(matches!(h.login(address, "wrong password").await, Err(AuthError::InvalidCredentials)));
        }
        let Err(AuthError::Locked { retry_after }) = h.login(address, PASSWORD).await else {
            panic!("{address} was not locked")
        };
        assert_eq!(retry_after, Duration::seconds(1));
    }
    h.clock.advance(Duration::seconds(1));
    assert!(matches!(h.login(ADA, "wrong password").await, Err(AuthError::InvalidCredentials)));
    let Err(AuthError::Locked { retry_after }) = h.login(ADA, PASSWORD).await else { panic!() };
    assert_eq!(retry_after, Duration::seconds(2), "the lockout doubles");
    h.clock.advance(Duration::seconds(2));
    h.login(ADA, PASSWORD).await.unwrap();
    for _ in 0..5 {
        assert!(matches!(h.login(ADA, "wrong password").await, Err(AuthError::InvalidCredentials)));
    }
    assert!(h.login(ADA, PASSWORD).await.is_ok(), "a success starts the count again");
}

#[tokio::test]
async fn parallel_password_guesses_cannot_outrun_the_lockout() {
    let h = Arc::new(harness());
    h.signed_up(ADA, PASSWORD).await;
    let guesses: Vec<_> = (0..40)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.login(ADA, "wrong password").await })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(AuthError::InvalidCredentials) => checked += 1,
            Err(AuthError::Locked { .. } | AuthError::Busy) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(checked <= ACCOUNT_LOCKOUT.free_failures + 1, "{checked} guesses reached the password check");
}

#[tokio::test]
async fn one_source_has_a_budget_for_requests_that_send_mail() {
    let h = harness();
    for i in 0..=SOURCE_LOCKOUT.free_failures {
        h.register(&format!("user{i}@example.org"), PASSWORD).await.unwrap();
    }
    assert!(matches!(h.register("one-more@example.org", PASSWORD).await, Err(AuthError::Locked { .. })));
    let elsewhere = ClientAddress::parse("198.51.100.7").unwrap();
    h.service.register(&elsewhere, registration("one-more@example.org", PASSWORD)).await.unwrap();
}

#[tokio::test]
async fn a_password_reset_sets_the_new_password_and_revokes_every_token() {
    let h = harness();
    let claims = h.signed_up(ADA, PASSWORD).await;
    h.clock.advance(Duration::minutes(1));
    h.service.forgot_password(&here(), &email(ADA)).await.unwrap();
    let code = h.last_code_for(ADA);
    let new_password = Password::parse("a brand new secret").unwrap();
    let wrong = h.service.reset_password(&here(), &email(ADA), &wrong_code(&code), &new_password).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCode)));
    // A verification code is no reset code.
    h.service.reset_password(&here(), &email(ADA), &code, &new_password).await.unwrap();
    assert!(matches!(h.service.guard().account(&claims).await, Err(AuthError::Revoked)));
    assert!(matches!(h.login(ADA, PASSWORD).await, Err(AuthError::InvalidCredentials)));
    h.login(ADA, "a brand new secret").await.unwrap();
    let mail = h.emails.jobs().pop().unwrap();
    assert!(matches!(mail.message, EmailMessage::PasswordChanged { .. }), "{mail:?}");
    let again = h.service.reset_password(&here(), &email(ADA), &code, &new_password).await;
    assert!(matches!(again, Err(AuthError::InvalidCode)), "a reset code works once");
}

#[tokio::test]
async fn a_reset_code_works_once_even_in_parallel() {
    for round in 0..4 {
        let h = Arc::new(harness());
        let address = format!("ada{round}@example.org");
        h.signed_up(&address, PASSWORD).await;
        h.clock.advance(Duration::minutes(1));
        h.service.forgot_password(&here(), &email(&address)).await.unwrap();
        let code = h.last_code_for(&address);
        h.emails.set_delay(std::time::Duration::from_millis(30));
        // Two resets with the right code, and wrong guesses around them.
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (h, address, code) = (h.clone(), address.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                let guess = if i % 3 == 0 { code } else { wrong_code(&code) };
                let new_password = Password::parse(&format!("new secret number {i}")).unwrap();
                h.service.reset_password(&here(), &email(&address), &guess, &new_password).await
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            let answer = task.await.unwrap();
            match answer {
                Ok(()) => accepted += 1,
                Err(AuthError::InvalidCode) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        assert_eq!(accepted, 1, "round {round}: the code was accepted {accepted} times");
        let another = Password::parse("yet another one").unwrap();
        let again = h.service.reset_password(&here(), &email(&address), &code, &another).await;
        assert!(matches!(again, Err(AuthError::InvalidCode)), "round {round}: used, then accepted again");
    }
}

#[tokio::test]
async fn a_reset_whose_notice_cannot_be_queued_changes_nothing() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    h.clock.advance(Duration::minutes(1));
    h.service.forgot_password(&here(), &email(ADA)).await.unwrap();
    let code = h.last_code_for(ADA);
    let new_password = Password::parse("a brand new secret").unwrap();
    h.emails.set_failing(true);
    let failed = h.service.reset_password(&here(), &email(ADA), &code, &new_password).await;
    assert!(matches!(failed, Err(AuthError::Unavailable(_))));
    h.emails.set_failing(false);
    h.login(ADA, PASSWORD).await.unwrap();
    h.service.reset_password(&here(), &email(ADA), &code, &new_password).await.unwrap();
}

#[tokio::test]
async fn forgot_for_an_unknown_address_mails_a_note_without_a_code() {
    let h = harness();
    h.service.forgot_password(&here(), &email("nobody@example.org")).await.unwrap();
    assert!(matches!(h.emails.jobs()[0].message, EmailMessage::NoAccount {}));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_revokes_older_tokens() {
    let h = harness();
    let claims = h.signed_up(ADA, PASSWORD).await;
    let new_password = Password::parse("a brand new secret").unwrap();
    let wrong = h.service.change_password(&here(), &claims, &attempt("not it"), &new_password).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    let token = h.service.change_password(&here(), &claims, &attempt(PASSWORD), &new_password).await.unwrap();
    assert!(matches!(h.service.profile(&claims).await, Err(AuthError::Revoked)));
    let fresh = h.service.guard().authenticate(&token.access_token).await.unwrap();
    h.service.profile(&fresh).await.unwrap();
    h.login(ADA, "a brand new secret").await.unwrap();
}

#[tokio::test]
async fn signing_out_everywhere_revokes_every_token() {
    let h = harness();
    let claims = h.signed_up(ADA, PASSWORD).await;
    let second = h.login(ADA, PASSWORD).await.unwrap();
    h.service.sign_out_everywhere(&claims).await.unwrap();
    assert!(matches!(h.service.guard().authenticate(&second.access_token).await, Err(AuthError::Revoked)));
    let third = h.login(ADA, PASSWORD).await.unwrap();
    h.service.guard().authenticate(&third.access_token).await.unwrap();
}

#[tokio::test]
async fn deleting_the_account_removes_it_with_every_job_image_and_result() {
    let h = harness();
    let claims = h.signed_up(ADA, PASSWORD).await;
    let owner = Owner { id: claims.sub, email: claims.email.clone() };
    for _ in 0..3 {
        h.jobs.submit(&owner, imaging::testing::png(40, 20)).await.unwrap();
    }
    let other = h.signed_up("other@example.org", PASSWORD).await;
    let other_owner = Owner { id: other.sub, email: other.email.clone() };
    h.jobs.submit(&other_owner, imaging::testing::png(40, 20)).await.unwrap();

    let wrong = h.service.delete_account(&here(), &claims, &attempt("not it")).await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    h.service.delete_account(&here(), &claims, &attempt(PASSWORD)).await.unwrap();

    assert!(h.users.find_user(&email(ADA)).await.unwrap().is_none());
    assert!(h.job_store.all().iter().all(|j| j.owner == other.sub), "a job of the deleted account is left");
    assert!(h.blobs.keys().iter().all(|k| !k.contains(&claims.sub.to_string())), "{:?}", h.blobs.keys());
    assert_eq!(h.blobs.keys().len(), 1);
    assert!(matches!(h.service.profile(&claims).await, Err(AuthError::UnknownAccount)));
    assert!(matches!(h.login(ADA, PASSWORD).await, Err(AuthError::InvalidCredentials)));
    assert!(matches!(h.emails.jobs().pop().unwrap().message, EmailMessage::AccountDeleted { .. }));
    // The address can be registered again from scratch.
    h.clock.advance(Duration::minutes(1));
    h.register(ADA, PASSWORD).await.unwrap();
}

#[tokio::test]
async fn an_upload_that_passed_the_token_check_before_its_account_went_leaves_no_job() {
    let h = harness();
    let claims = h.signed_up(ADA, PASSWORD).await;
    let owner = Owner { id: claims.sub, email: claims.email.clone() };
    // The request's token was checked; then the account was deleted, and
    // its sweeps ran, before the request wrote its job.
    h.service.delete_account(&here(), &claims, &attempt(PASSWORD)).await.unwrap();
    let submitted = h.jobs.submit(&owner, imaging::testing::png(40, 20)).await;
    assert!(matches!(submitted, Err(crate::jobs::JobError::AccountGone)), "{submitted:?}");
    let presigned = h.jobs.presign(&owner, "image/png", 100).await;
    assert!(matches!(presigned, Err(crate::jobs::JobError::AccountGone)), "{presigned:?}");
    assert!(h.job_store.all().is_empty(), "a job of a deleted account: {:?}", h.job_store.all());
    assert!(h.blobs.keys().is_empty(), "{:?}", h.blobs.keys());
}

fn network(n: u32) -> ClientAddress {
    ClientAddress::parse(&format!("198.51.{}.{}", 100 + n / 250, n % 250)).unwrap()
}

#[tokio::test]
async fn a_stranger_who_fails_at_an_account_locks_out_only_themselves() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    let stranger = network(1);
    for _ in 0..6 {
        let wrong = h.service.login(&stranger, &email(ADA), &attempt("guess")).await;
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)), "{wrong:?}");
    }
    let locked = h.service.login(&stranger, &email(ADA), &attempt(PASSWORD)).await;
    assert!(matches!(locked, Err(AuthError::Locked { .. })), "{locked:?}");
    // The owner, elsewhere, signs in, changes the password and so on.
    h.login(ADA, PASSWORD).await.unwrap();
}

#[tokio::test]
async fn many_strangers_close_an_account_only_to_sources_that_failed_and_say_no_precise_time() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    let wide = ACCOUNT_WIDE_LOCKOUT.free_failures;
    for n in 0..=wide {
        let wrong = h.service.login(&network(n), &email(ADA), &attempt("guess")).await;
        assert!(matches!(wrong, Err(AuthError::InvalidCredentials)), "{n}: {wrong:?}");
    }
    // A source that failed is refused even the right password, and told
    // the longest wait, not when the lock ends.
    let Err(AuthError::Locked { retry_after }) = h.service.login(&network(0), &email(ADA), &attempt(PASSWORD)).await
    else {
        panic!("not locked")
    };
    assert_eq!(retry_after, ACCOUNT_WIDE_LOCKOUT.max_lockout);
    // A fresh source gets one guess, then is closed too.
    let fresh = network(wide + 10);
    assert!(matches!(
        h.service.login(&fresh, &email(ADA), &attempt("guess")).await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(h.service.login(&fresh, &email(ADA), &attempt("guess")).await, Err(AuthError::Locked { .. })));
    // The owner's source never failed: it signs in.
    h.login(ADA, PASSWORD).await.unwrap();
}

#[tokio::test]
async fn strangers_cannot_spend_the_owners_reset_mail_nor_replace_the_owners_code() {
    let h = harness();
    h.signed_up(ADA, PASSWORD).await;
    h.login(ADA, PASSWORD).await.unwrap();
    h.clock.advance(Duration::hours(2));
    // The owner asks for a code from a source where they signed in.
    h.service.forgot_password(&here(), &email(ADA)).await.unwrap();
    let owners_code = h.last_code_for(ADA);
    // Strangers on many networks spend the address's budget, each code
    // mailed to the owner.
    for n in 0..100 {
        h.service.forgot_password(&network(n), &email(ADA)).await.unwrap();
    }
    // The owner's code still works, and the owner can still ask from home.
    let new_password = Password::parse("a brand new password").unwrap();
    h.service.reset_password(&here(), &email(ADA), &owners_code, &new_password).await.unwrap();
    let sent = h.emails.jobs().len();
    h.clock.advance(Duration::minutes(2));
    h.service.forgot_password(&here(), &email(ADA)).await.unwrap();
    assert_eq!(h.emails.jobs().len(), sent + 1, "the owner's request was dropped");
}

#[tokio::test]
async fn wrong_guesses_are_counted_per_address_across_fresh_codes() {
    let h = harness();
    // A registrant (or a stranger who registered the address with a
    // password of their own) asks for code after code and guesses.
    h.register(ADA, PASSWORD).await.unwrap();
    let mut guesses = 0;
    for round in 0..3 {
        if round > 0 {
            h.clock.advance(Duration::minutes(1));
            h.service.request_code(&network(round), &email(ADA), &attempt(PASSWORD)).await.unwrap();
        }
        let code = h.last_code_for(ADA);
        for _ in 0..MAX_CODE_ATTEMPTS {
            let guess = h.service.verify(&network(round), &email(ADA), &wrong_code(&code), &attempt(PASSWORD)).await;
            assert!(matches!(guess, Err(AuthError::InvalidCode)), "{guess:?}");
            guesses += 1;
        }
    }
    assert!(guesses > codes::MAX_WRONG_GUESSES_PER_ADDRESS);
    // The budget is spent: even the right code does nothing for the hour.
    h.service.request_code(&network(10), &email(ADA), &attempt(PASSWORD)).await.unwrap();
    let code = h.last_code_for(ADA);
    let right = h.service.verify(&network(10), &email(ADA), &code, &attempt(PASSWORD)).await;
    assert!(matches!(right, Err(AuthError::InvalidCode)), "{right:?}");
    h.clock.advance(codes::GUESS_WINDOW);
    h.service.register(&network(11), registration(ADA, PASSWORD)).await.unwrap();
    let code = h.last_code_for(ADA);
    h.service.verify(&network(11), &email(ADA), &code, &attempt(PASSWORD)).await.unwrap();
}
