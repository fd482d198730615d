//! Forgotten passwords (a code by e-mail, then a new password) and password
//! changes. Both revoke every token issued before them and tell the owner.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::codes::{PendingCode, Purpose, WrongGuesses};
use super::registration::minutes;
use super::sends::SendPurpose;
use super::throttle::{Subject, password_attempt};
use super::{AccessToken, AuthError, AuthService, CODE_LIFETIME, Claims, passwords, records};
use crate::email::EmailMessage;
use crate::retry;
use crate::user::User;
use crate::values::{ClientAddress, Email, OneTimeCode, Password, PasswordAttempt};

/// Reset codes live at one address at once: a stranger's `forgot` mails the
/// owner a new code without taking away the one the owner is typing.
const MAX_LIVE_RESET_CODES: usize = 3;

/// The reset codes waiting at an address (written for unknown addresses
/// too, so both cost the same calls; no account, no use), newest last, and
/// the wrong guesses at them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ResetRequest {
    /// The newest code (records from before several codes were kept hold
    /// only this one).
    code: Option<PendingCode>,
    /// The code last asked for from a source where the owner proved who
    /// they are: strangers' requests never push it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owners: Option<PendingCode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier: Vec<PendingCode>,
    #[serde(default, skip_serializing_if = "WrongGuesses::is_empty")]
    wrong_guesses: WrongGuesses,
}

impl ResetRequest {
    /// The owner's lane holds one code of its own.
    fn add_owners(&mut self, pending: PendingCode) {
        self.owners = Some(pending);
    }

    /// `pending` becomes the newest code; older ones stay usable.
    fn add(&mut self, pending: PendingCode, now: OffsetDateTime) {
        self.earlier.extend(self.code.replace(pending));
        self.earlier.retain(|c| c.usable(now));
        let over = self.earlier.len().saturating_sub(MAX_LIVE_RESET_CODES - 1);
        self.earlier.drain(..over);
    }

    /// Takes `code` away wherever it is.
    fn withdraw(&mut self, code: &PendingCode) {
        if self.owners.as_ref() == Some(code) {
            self.owners = None;
        }
        if self.code.as_ref() == Some(code) {
            self.code = self.earlier.pop();
        }
        self.earlier.retain(|c| c != code);
    }

    /// Uses up the usable code that matches `guess`, or counts a wrong
    /// guess against every usable code and the address.
    fn take_matching(&mut self, guess: &[u8], now: OffsetDateTime) -> Option<PendingCode> {
        if self.wrong_guesses.spent(now) {
            return None;
        }
        let matched = self.codes().find(|c| c.usable(now) && c.matches(guess)).cloned();
        if let Some(matched) = matched {
            self.withdraw(&matched);
            return Some(matched);
        }
        if self.codes().any(|c| c.usable(now)) {
            self.wrong_guesses.record(now);
            for code in self.code.iter_mut().chain(self.earlier.iter_mut()).chain(self.owners.iter_mut()) {
                code.attempts += 1;
            }
        }
        None
    }

    fn expires_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        let codes = self.codes().map(|c| c.expires_at).max().unwrap_or(now);
        codes.max(self.wrong_guesses.kept_until(now))
    }

    fn codes(&self) -> impl Iterator<Item = &PendingCode> {
        self.code.iter().chain(&self.earlier).chain(&self.owners)
    }
}

impl AuthService {
    /// Mails a reset code to an account's owner, or, when there is no
    /// account, a note saying so. The answer is the same.
    pub async fn forgot_password(&self, source: &ClientAddress, email: &Email) -> Result<(), AuthError> {
        self.take_attempt(&[Subject::Source(source)]).await?;
        let Some(slot) = self.reserve_send(SendPurpose::Reset, email, source).await? else {
            return Ok(());
        };
        let (code, pending) = self.codes.issue(Purpose::Reset, email, self.now());
        let key = records::reset(email);
        let stored = retry::on_conflict(|| async {
            let user = self.users.find_user(email).await?;
            let mut request = self.records.load::<ResetRequest>(&key).await?;
            if slot.owners_lane {
                request.value.add_owners(pending.clone());
            } else {
                request.value.add(pending.clone(), self.now());
            }
            let expires_at = request.value.expires_at(self.now());
            self.records.save(&key, &mut request, expires_at).await?;
            Ok(user)
        })
        .await;
        let sent = match stored {
            Ok(Some(user)) => {
                let message = EmailMessage::PasswordResetCode {
                    name: user.name.as_str().to_owned(),
                    code: code.expose().to_owned(),
                    expires_in_minutes: minutes(CODE_LIFETIME),
                };
                self.enqueue(email, message).await
            }
            Ok(None) => self.enqueue(email, EmailMessage::NoAccount {}).await,
            Err(e) => {
                self.release_send(SendPurpose::Reset, email, source, slot).await;
                return Err(e);
            }
        };
        if sent.is_err() {
            self.change_reset_codes(email, |request| request.withdraw(&pending)).await;
            self.release_send(SendPurpose::Reset, email, source, slot).await;
        }
        sent
    }

    /// Sets a new password with a reset code. Wrong guesses are counted
    /// before the answer; the fifth burns the code. The right code is used
    /// up first, by the conditional write of the code's record that only
    /// one request can win: a parallel reset with the same code, or a
    /// wrong guess that arrives meanwhile, reads the record again and finds
    /// no code. It is put back only if the password could not be changed
    /// or its owner told.
    pub async fn reset_password(
        &self,
        source: &ClientAddress,
        email: &Email,
        code: &OneTimeCode,
        new_password: &Password,
    ) -> Result<(), AuthError> {
        self.take_attempt(&[Subject::Source(source)]).await?;
        let new_hash =
            passwords::hash(new_password.expose().to_owned()).await.map_err(|e| AuthError::Unavailable(e.into()))?;
        let guess = self.codes.code_hash(Purpose::Reset, email, code);
        let key = records::reset(email);
        let used = retry::on_conflict(|| async {
            let now = self.now();
            let mut request = self.records.load::<ResetRequest>(&key).await?;
            let before = request.value.clone();
            let matched = request.value.take_matching(&guess, now);
            if request.value != before {
                let expires_at = request.value.expires_at(now);
                self.records.save(&key, &mut request, expires_at).await?;
            }
            matched.ok_or(AuthError::InvalidCode)
        })
        .await?;
        let changed = retry::on_conflict(|| async {
            let user = self.users.find_user(email).await?.ok_or(AuthError::InvalidCode)?;
            let changed = with_password(&user, new_hash.clone());
            self.users.update_user(&changed).await?;
            Ok((user, changed))
        })
        .await;
        let told = match &changed {
            Ok((before, after)) => self.tell_owner_password_changed(before, after).await,
            Err(_) => Ok(()),
        };
        if let Err(e) = changed.and(told) {
            // The owner may try again with the same code.
            let now = self.now();
            self.change_reset_codes(email, |request| request.add(used.clone(), now)).await;
            return Err(e);
        }
        self.give_back(&password_attempt(email, source)).await;
        self.remember_source(email, source).await;
        Ok(())
    }

    /// Changes the caller's password; answers with a new token, since every
    /// older one (the caller's included) stops working.
    pub async fn change_password(
        &self,
        source: &ClientAddress,
        claims: &Claims,
        current: &PasswordAttempt,
        new_password: &Password,
    ) -> Result<AccessToken, AuthError> {
        let user = self.confirm_password(source, claims, current).await?;
        let new_hash =
            passwords::hash(new_password.expose().to_owned()).await.map_err(|e| AuthError::Unavailable(e.into()))?;
        let changed = with_password(&user, new_hash);
        self.users.update_user(&changed).await?;
        self.tell_owner_password_changed(&user, &changed).await?;
        self.issue(&changed)
    }

    /// Checks the current password of a signed-in caller, counting failures
    /// like sign-ins do (a stolen token must not open a guessing channel).
    pub(crate) async fn confirm_password(
        &self,
        source: &ClientAddress,
        claims: &Claims,
        password: &PasswordAttempt,
    ) -> Result<User, AuthError> {
        let subjects = password_attempt(&claims.email, source);
        self.take_attempt(&subjects).await?;
        let user = self.guard.account(claims).await?;
        if !passwords::verify(password.expose().to_owned(), Some(user.password_hash.clone())).await {
            return Err(AuthError::InvalidCredentials);
        }
        self.give_back(&subjects).await;
        Ok(user)
    }

    /// Queues the "your password was changed" e-mail; when it cannot be
    /// queued, the change is undone and the caller told to retry.
    async fn tell_owner_password_changed(&self, before: &User, after: &User) -> Result<(), AuthError> {
        let message = EmailMessage::PasswordChanged { name: after.name.as_str().to_owned() };
        if let Err(e) = self.enqueue(&after.email, message).await {
            self.restore_user(before, after).await;
            return Err(e);
        }
        Ok(())
    }

    /// Changes the address's reset codes as `change` says. Best effort.
    async fn change_reset_codes(&self, email: &Email, change: impl Fn(&mut ResetRequest)) {
        let key = records::reset(email);
        let changed = retry::on_conflict(|| async {
            let mut request = self.records.load::<ResetRequest>(&key).await?;
            change(&mut request.value);
            let expires_at = request.value.expires_at(self.now());
            self.records.save(&key, &mut request, expires_at).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = changed {
            tracing::error!(error = %e, "could not change the reset codes");
        }
    }
}

/// The account with a new password, and every older token revoked.
fn with_password(user: &User, password_hash: String) -> User {
    User { password_hash, credentials_version: user.credentials_version + 1, ..user.next_version() }
}
