//! Secrets Manager: a secret's text, read once per container at init (the
//! token-signing key); what the text must be is the caller's to check.

use crate::AwsClients;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret {id} from Secrets Manager")]
    Unreadable {
        id: String,
        #[source]
        source: aws_sdk_secretsmanager::Error,
    },
    #[error("the secret {0} holds no SecretString")]
    Empty(String),
}

pub async fn secret_string(clients: &AwsClients, id: &str) -> Result<String, SecretError> {
    let out = clients
        .secrets_manager()
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable { id: id.to_owned(), source: e.into() })?;
    out.secret_string.ok_or_else(|| SecretError::Empty(id.to_owned()))
}
