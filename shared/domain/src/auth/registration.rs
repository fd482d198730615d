//! Sign-up: a registration waits, under its address, for the code mailed to
//! that address, and only the code *together with that registration's
//! password* verifies it. Whoever registers an address, only a password the
//! mailbox owner typed can ever be activated by a code sent to that mailbox:
//! a stranger who registers the owner's address gets a code mailed to the
//! owner, and a stranger who guesses codes can only burn their own
//! registration's five attempts.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::codes::{PendingCode, Purpose, WrongGuesses, same};
use super::records::Versioned;
use super::sends::{SendPurpose, SendSlot};
use super::throttle::Subject;
use super::{AuthError, AuthService, CODE_LIFETIME, Registration, passwords, records};
use crate::email::EmailMessage;
use crate::retry;
use crate::user::User;
use crate::values::{ClientAddress, Email, OneTimeCode, PasswordAttempt, PersonName, UserId};

/// Registrations waiting for their code at one address. The send limit (five
/// codes an hour) keeps the list short; the oldest goes beyond this.
const MAX_WAITING: usize = 5;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct WaitingRegistrations {
    entries: Vec<WaitingRegistration>,
    #[serde(default, skip_serializing_if = "WrongGuesses::is_empty")]
    wrong_guesses: WrongGuesses,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WaitingRegistration {
    name: PersonName,
    /// The Argon2id hash the account gets once verified.
    password_hash: String,
    /// A keyed hash of the same password, to find this entry quickly.
    password_tag: Vec<u8>,
    code: PendingCode,
}

impl WaitingRegistrations {
    fn prune(&mut self, now: OffsetDateTime) {
        self.entries.retain(|e| e.code.expires_at > now);
    }

    /// The entry registered with this password, if any (every entry is
    /// compared, in constant time).
    fn position(&self, password_tag: &[u8]) -> Option<usize> {
        self.entries.iter().enumerate().fold(
            None,
            |found, (i, e)| {
                if same(&e.password_tag, password_tag) { Some(i) } else { found }
            },
        )
    }

    fn expires_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        let codes = self.entries.iter().map(|e| e.code.expires_at).max().unwrap_or(now);
        codes.max(self.wrong_guesses.kept_until(now))
    }
}

impl AuthService {
    /// Registers a new address, or adds another registration to one that
    /// waits for its code. A verified address is left untouched and its
    /// owner told that someone tried; the answer is the same.
    pub async fn register(&self, source: &ClientAddress, registration: Registration) -> Result<(), AuthError> {
        let email = &registration.email;
        self.take_attempt(&[Subject::Source(source)]).await?;
        let password_hash = passwords::hash(registration.password.expose().to_owned())
            .await
            .map_err(|e| AuthError::Unavailable(e.into()))?;
        let password_tag = self.codes.password_tag(email, registration.password.expose());
        let Some(slot) = self.reserve_send(SendPurpose::SignUp, email, source).await? else {
            return Ok(());
        };
        let (code, pending) = self.codes.issue(Purpose::Verify, email, self.now());
        let key = records::pending(email);
        let stored = retry::on_conflict(|| async {
            let now = self.now();
            let user = self.users.find_user(email).await?;
            let mut waiting = self.records.load::<WaitingRegistrations>(&key).await?;
            let before = waiting.value.clone();
            waiting.value.prune(now);
            let message = match user {
                Some(user) => EmailMessage::AccountExists { name: user.name.as_str().to_owned() },
                None => {
                    // The same password registered again replaces its entry.
                    if let Some(i) = waiting.value.position(&password_tag) {
                        waiting.value.entries.remove(i);
                    }
                    if waiting.value.entries.len() >= MAX_WAITING {
                        waiting.value.entries.remove(0);
                    }
                    waiting.value.entries.push(WaitingRegistration {
                        name: registration.name.clone(),
                        password_hash: password_hash.clone(),
                        password_tag: password_tag.clone(),
                        code: pending.clone(),
                    });
                    verify_code_message(&code)
                }
            };
            // Written for a verified address too: the same calls either way.
            let expires_at = waiting.value.expires_at(now);
            self.records.save(&key, &mut waiting, expires_at).await?;
            Ok((Some(message), Versioned { value: before, version: waiting.version }))
        })
        .await;
        self.mail_or_take_back(email, source, slot, stored, &pending.hash).await
    }

    /// Mails a fresh code for the registration made with this password.
    /// Answers the same whether or not there is one.
    pub async fn request_code(
        &self,
        source: &ClientAddress,
        email: &Email,
        password: &PasswordAttempt,
    ) -> Result<(), AuthError> {
        self.take_attempt(&[Subject::Source(source)]).await?;
        let password_tag = self.codes.password_tag(email, password.expose());
        let Some(slot) = self.reserve_send(SendPurpose::SignUp, email, source).await? else {
            return Ok(());
        };
        let (code, pending) = self.codes.issue(Purpose::Verify, email, self.now());
        let key = records::pending(email);
        let stored = retry::on_conflict(|| async {
            let now = self.now();
            let mut waiting = self.records.load::<WaitingRegistrations>(&key).await?;
            let before = waiting.value.clone();
            waiting.value.prune(now);
            let found = waiting.value.position(&password_tag).map(|i| waiting.value.entries[i].code = pending.clone());
            let expires_at = waiting.value.expires_at(now);
            self.records.save(&key, &mut waiting, expires_at).await?;
            let message = found.map(|()| verify_code_message(&code));
            Ok((message, Versioned { value: before, version: waiting.version }))
        })
        .await;
        self.mail_or_take_back(email, source, slot, stored, &pending.hash).await
    }

    /// Queues the e-mail a change of the waiting registrations calls for
    /// (none: nothing to send). When the change or the e-mail fails, the
    /// change and the send slot are taken back, so a retry starts afresh.
    async fn mail_or_take_back(
        &self,
        email: &Email,
        source: &ClientAddress,
        slot: SendSlot,
        stored: Result<(Option<EmailMessage>, Versioned<WaitingRegistrations>), AuthError>,
        code_hash: &[u8],
    ) -> Result<(), AuthError> {
        let (message, undo) = match stored {
            Ok((Some(message), undo)) => (message, undo),
            Ok((None, _)) => return Ok(()),
            Err(e) => {
                self.release_send(SendPurpose::SignUp, email, source, slot).await;
                return Err(e);
            }
        };
        let sent = self.enqueue(email, message).await;
        if sent.is_err() {
            self.withdraw_code(email, undo, code_hash).await;
            self.release_send(SendPurpose::SignUp, email, source, slot).await;
        }
        sent
    }

    /// Checks a code against the registration made with this password; a
    /// match creates the account. Every wrong guess is recorded before the
    /// answer is given, so parallel guessing gains nothing.
    pub async fn verify(
        &self,
        source: &ClientAddress,
        email: &Email,
        code: &OneTimeCode,
        password: &PasswordAttempt,
    ) -> Result<(), AuthError> {
        self.take_attempt(&[Subject::Source(source)]).await?;
        let password_tag = self.codes.password_tag(email, password.expose());
        let guess = self.codes.code_hash(Purpose::Verify, email, code);
        let key = records::pending(email);
        retry::on_conflict(|| async {
            let now = self.now();
            let mut waiting = self.records.load::<WaitingRegistrations>(&key).await?;
            let Some(i) = waiting.value.position(&password_tag) else {
                return Err(AuthError::InvalidCode);
            };
            if waiting.value.wrong_guesses.spent(now) {
                return Err(AuthError::InvalidCode);
            }
            let entry = &mut waiting.value.entries[i];
            if !entry.code.usable(now) {
                return Err(AuthError::InvalidCode);
            }
            if !entry.code.matches(&guess) {
                entry.code.attempts += 1;
                waiting.value.wrong_guesses.record(now);
                let expires_at = waiting.value.expires_at(now);
                self.records.save(&key, &mut waiting, expires_at).await?;
                return Err(AuthError::InvalidCode);
            }
            if self.users.find_user(email).await?.is_some() {
                return Err(AuthError::InvalidCode);
            }
            let user = User {
                id: UserId::new(),
                email: email.clone(),
                name: entry.name.clone(),
                password_hash: entry.password_hash.clone(),
                created_at: now,
                credentials_version: 1,
                version: 1,
            };
            self.users.create_user(&user).await?;
            Ok(())
        })
        .await?;
        self.clear_waiting(email).await;
        self.give_back(&[Subject::Source(source)]).await;
        self.remember_source(email, source).await;
        Ok(())
    }

    /// Drops every waiting registration once the address is verified. Best
    /// effort: a leftover can never create a second account.
    async fn clear_waiting(&self, email: &Email) {
        let key = records::pending(email);
        let cleared = retry::on_conflict(|| async {
            let mut waiting = self.records.load::<WaitingRegistrations>(&key).await?;
            waiting.value = WaitingRegistrations::default();
            self.records.save(&key, &mut waiting, self.now()).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = cleared {
            tracing::warn!(error = %e, "could not clear the registrations of a verified address");
        }
    }

    /// Takes back a code whose e-mail could not be queued: the waiting
    /// registrations are put back as they were (`undo` holds them, and the
    /// version that our write gave them); if someone wrote since, only the
    /// entry holding our code goes. Best effort.
    async fn withdraw_code(&self, email: &Email, undo: Versioned<WaitingRegistrations>, code_hash: &[u8]) {
        let key = records::pending(email);
        let withdrawn = retry::on_conflict(|| async {
            let now = self.now();
            let mut waiting = self.records.load::<WaitingRegistrations>(&key).await?;
            if waiting.version == undo.version {
                waiting.value = undo.value.clone();
            } else {
                waiting.value.entries.retain(|e| !e.code.matches(code_hash));
            }
            let expires_at = waiting.value.expires_at(now);
            self.records.save(&key, &mut waiting, expires_at).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = withdrawn {
            tracing::error!(error = %e, "could not withdraw a code whose e-mail was not queued");
        }
    }
}

fn verify_code_message(code: &OneTimeCode) -> EmailMessage {
    EmailMessage::VerifyCode { code: code.expose().to_owned(), expires_in_minutes: minutes(CODE_LIFETIME) }
}

pub(crate) fn minutes(lifetime: Duration) -> u32 {
    lifetime.whole_minutes() as u32
}
