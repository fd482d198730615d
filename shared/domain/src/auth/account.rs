//! The signed-in caller's own account: what it shows, and removing it.

use super::{AuthError, AuthService, Claims, Profile};
use crate::email::EmailMessage;
use crate::values::{ClientAddress, PasswordAttempt};

impl AuthService {
    /// The profile behind a verified token; the account must still exist.
    pub async fn profile(&self, claims: &Claims) -> Result<Profile, AuthError> {
        let user = self.guard.account(claims).await?;
        Ok(Profile { id: user.id, name: user.name.as_str().to_owned(), email: user.email, created_at: user.created_at })
    }

    /// Removes the account with every job, image and result it owns.
    ///
    /// Every token is revoked first, so nothing new arrives while the
    /// content goes; the content is swept again after the account is gone,
    /// for a job created by a request that was let in just before. A failure
    /// part-way leaves the account in place (tokens revoked): signing in and
    /// asking again finishes the job.
    pub async fn delete_account(
        &self,
        source: &ClientAddress,
        claims: &Claims,
        password: &PasswordAttempt,
    ) -> Result<(), AuthError> {
        let user = self.confirm_password(source, claims, password).await?;
        let mut revoked = user.next_version();
        revoked.credentials_version += 1;
        self.users.update_user(&revoked).await?;
        let jobs = self.content.delete_all(&user.id).await?;
        self.users.delete_user(&revoked).await?;
        let late_jobs = self.content.delete_all(&user.id).await?;
        tracing::info!(user_id = %user.id, jobs = jobs + late_jobs, "account deleted");
        let farewell = EmailMessage::AccountDeleted { name: user.name.as_str().to_owned() };
        if let Err(e) = self.enqueue(&user.email, farewell).await {
            tracing::warn!(error = %e, "the account is deleted, but its owner could not be told");
        }
        Ok(())
    }
}
