//! Forgotten passwords (a code by e-mail, then a new password) and password
//! changes. Both revoke every token issued before them and tell the owner.

use serde::{Deserialize, Serialize};

use super::codes::{PendingCode, Purpose};
use super::registration::minutes;
use super::sends::SendPurpose;
use super::throttle::Subject;
use super::{AccessToken, AuthError, AuthService, CODE_LIFETIME, Claims, passwords, records};
use crate::email::EmailMessage;
use crate::retry;
use crate::user::User;
use crate::values::{ClientAddress, Email, OneTimeCode, Password, PasswordAttempt};

/// The reset code waiting at an address (written for unknown addresses too,
/// so both cost the same calls; no account, no use).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ResetRequest {
    code: Option<PendingCode>,
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
            let previous = request.value.code.replace(pending.clone());
            self.records.save(&key, &mut request, pending.expires_at).await?;
            Ok((user, previous))
        })
        .await;
        let (sent, previous) = match stored {
            Ok((Some(user), previous)) => {
                let message = EmailMessage::PasswordResetCode {
                    name: user.name.as_str().to_owned(),
                    code: code.expose().to_owned(),
                    expires_in_minutes: minutes(CODE_LIFETIME),
                };
                (self.enqueue(email, message).await, previous)
            }
            Ok((None, previous)) => (self.enqueue(email, EmailMessage::NoAccount {}).await, previous),
            Err(e) => {
                self.release_send(SendPurpose::Reset, email, source, slot).await;
                return Err(e);
            }
        };
        if sent.is_err() {
            self.put_back_reset_code(email, Some(&pending), previous).await;
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
            let Some(pending) = request.value.code.as_mut().filter(|p| p.usable(now)) else {
                return Err(AuthError::InvalidCode);
            };
            if !pending.matches(&guess) {
                pending.attempts += 1;
                let expires_at = pending.expires_at;
                self.records.save(&key, &mut request, expires_at).await?;
                return Err(AuthError::InvalidCode);
            }
            let used = request.value.code.take().expect("a usable code was just matched");
            self.records.save(&key, &mut request, used.expires_at).await?;
            Ok(used)
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
            self.put_back_reset_code(email, None, Some(used)).await;
            return Err(e);
        }
        self.give_back(&[Subject::Account(email), Subject::Source(source)]).await;
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
        let subjects = [Subject::Account(&claims.email), Subject::Source(source)];
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

    /// Puts `previous` back as the address's reset code if the code there
    /// is still `ours` (a new code that could not be mailed, or none: the
    /// code a failed reset used up).
    async fn put_back_reset_code(&self, email: &Email, ours: Option<&PendingCode>, previous: Option<PendingCode>) {
        let key = records::reset(email);
        let restored = retry::on_conflict(|| async {
            let mut request = self.records.load::<ResetRequest>(&key).await?;
            if request.value.code.as_ref() != ours {
                return Ok(());
            }
            request.value.code = previous.clone();
            let expires_at = previous.as_ref().map_or(self.now(), |p| p.expires_at);
            self.records.save(&key, &mut request, expires_at).await.map_err(AuthError::from)
        })
        .await;
        if let Err(e) = restored {
            tracing::error!(error = %e, "could not put a reset code back");
        }
    }
}

/// The account with a new password, and every older token revoked.
fn with_password(user: &User, password_hash: String) -> User {
    User { password_hash, credentials_version: user.credentials_version + 1, ..user.next_version() }
}
