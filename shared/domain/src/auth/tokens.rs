//! Access tokens: HS256 JWTs with the algorithm pinned.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::user::User;
use crate::values::{Email, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub email: Email,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The account's credentials version when the token was issued: a
    /// password change or a sign-out everywhere bumps it, and older tokens
    /// are refused from then on.
    pub cv: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct TokenError(String);

impl TokenError {
    /// A short explanation fit for the client.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "it has expired".into(),
        ErrorKind::InvalidSignature => "its signature does not match".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "it is not signed with HS256".into(),
        ErrorKind::InvalidIssuer => "it was issued by someone else".into(),
        ErrorKind::InvalidAudience => "it is meant for another audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it lacks the `{claim}` claim"),
        ErrorKind::ImmatureSignature => "it is not valid yet".into(),
        _ => "it is malformed".into(),
    }
}

/// Issues and checks tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl TokenService {
    pub const ALGORITHM: Algorithm = Algorithm::HS256;

    pub fn new(secret: &[u8], issuer: &str, audience: &str, lifetime: Duration) -> Self {
        let mut validation = Validation::new(Self::ALGORITHM);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime,
        }
    }

    pub fn issue(&self, user: &User, now: OffsetDateTime) -> Result<AccessToken, TokenError> {
        let claims = Claims {
            sub: user.id,
            email: user.email.clone(),
            name: user.name.as_str().to_owned(),
            iat: now.unix_timestamp(),
            exp: (now + self.lifetime).unix_timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            cv: user.credentials_version,
        };
        let token = jsonwebtoken::encode(&Header::new(Self::ALGORITHM), &claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))?;
        Ok(AccessToken { access_token: token, token_type: "Bearer".into(), expires_in: self.lifetime.whole_seconds() })
    }

    /// Checks signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError(describe(&e)))
    }
}
