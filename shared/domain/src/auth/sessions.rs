//! Signing in, checking access tokens, and revoking them.

use std::sync::Arc;

use super::throttle::password_attempt;
use super::{AccessToken, AuthError, AuthService, Claims, TokenService, passwords};
use crate::auth::ports::UserStore;
use crate::retry;
use crate::user::User;
use crate::values::{ClientAddress, Email, PasswordAttempt};

/// Lets a request through only with a valid token of an account that still
/// exists and whose credentials have not changed since the token was issued.
/// One consistent read per request, no cache: a revoked token stops working
/// at once, in every function.
#[derive(Clone)]
pub struct AccessGuard {
    tokens: TokenService,
    users: Arc<dyn UserStore>,
}

impl AccessGuard {
    pub fn new(tokens: TokenService, users: Arc<dyn UserStore>) -> Self {
        Self { tokens, users }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify(token).map_err(|e| AuthError::InvalidToken(e.reason().to_owned()))?;
        self.account(&claims).await?;
        Ok(claims)
    }

    /// The account behind verified claims, as stored now.
    pub(crate) async fn account(&self, claims: &Claims) -> Result<User, AuthError> {
        let user = self.users.find_user(&claims.email).await?.filter(|u| u.id == claims.sub);
        let user = user.ok_or(AuthError::UnknownAccount)?;
        if user.credentials_version != claims.cv {
            return Err(AuthError::Revoked);
        }
        Ok(user)
    }
}

impl AuthService {
    /// Checks the password. Failures count against the account and the
    /// source before the password is checked; a lockout refuses even the
    /// right password.
    pub async fn login(
        &self,
        source: &ClientAddress,
        email: &Email,
        password: &PasswordAttempt,
    ) -> Result<AccessToken, AuthError> {
        let subjects = password_attempt(email, source);
        self.take_attempt(&subjects).await?;
        // A registration not verified yet gets the answer of a wrong
        // password: "not verified" for a password someone registered, next
        // to "wrong password" for an account's, told which addresses have
        // an account (register the address, then log in with that password).
        let user = self.users.find_user(email).await?;
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        match user {
            Some(user) if passwords::verify(password.expose().to_owned(), hash).await => {
                self.give_back(&subjects).await;
                self.remember_source(email, source).await;
                self.issue(&user)
            }
            Some(_) => Err(AuthError::InvalidCredentials),
            // An unknown address costs a hash like a known one: timing
            // must not tell them apart.
            None => {
                passwords::verify(password.expose().to_owned(), None).await;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Revokes every token of the caller's account, this one included. A
    /// concurrent write to the account (a password change in another tab) is
    /// no reason to fail: read it again and revoke on top of it.
    pub async fn sign_out_everywhere(&self, claims: &Claims) -> Result<(), AuthError> {
        retry::on_conflict(|| async {
            let user = self.guard.account(claims).await?;
            let mut revoked = user.next_version();
            revoked.credentials_version += 1;
            self.users.update_user(&revoked).await?;
            Ok(())
        })
        .await
    }

    pub(crate) fn issue(&self, user: &User) -> Result<AccessToken, AuthError> {
        self.guard.tokens.issue(user, self.now()).map_err(|e| AuthError::Unavailable(Box::new(e)))
    }
}
