//! E-mail jobs: what producers put on the e-mail queue for the notify function.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::Email;

/// One e-mail to send. `id` makes redelivery detectable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailJob {
    pub id: Uuid,
    pub to: Email,
    #[serde(flatten)]
    pub message: EmailMessage,
}

/// The template and its parameters, serialised as
/// `"template": "verify_code", "params": {...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", content = "params", rename_all = "snake_case")]
pub enum EmailMessage {
    /// To an address that has not shown it is its owner's yet: nothing in
    /// it is the registrant's (a name there would carry a stranger's words
    /// from our sender to anyone's mailbox).
    VerifyCode {
        code: String,
        expires_in_minutes: u32,
    },
    /// Someone registered an address that already has an account.
    AccountExists {
        name: String,
    },
    PasswordResetCode {
        name: String,
        code: String,
        expires_in_minutes: u32,
    },
    /// A reset was asked for an address without an account.
    NoAccount {},
    PasswordChanged {
        name: String,
    },
    AccountDeleted {
        name: String,
    },
    /// `result_path` is the API path that returns the full result.
    OcrDone {
        job_id: String,
        excerpt: String,
        result_path: String,
    },
    OcrFailed {
        job_id: String,
        reason: String,
    },
}

impl EmailJob {
    pub fn new(to: Email, message: EmailMessage) -> Self {
        Self { id: Uuid::new_v4(), to, message }
    }

    /// A job whose id is derived from `key`: queuing it twice makes two
    /// messages with one id, which the notify function sends once.
    pub fn idempotent(key: &str, to: Email, message: EmailMessage) -> Self {
        Self { id: Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes()), to, message }
    }

    pub fn template(&self) -> &'static str {
        match self.message {
            EmailMessage::VerifyCode { .. } => "verify_code",
            EmailMessage::AccountExists { .. } => "account_exists",
            EmailMessage::PasswordResetCode { .. } => "password_reset_code",
            EmailMessage::NoAccount {} => "no_account",
            EmailMessage::PasswordChanged { .. } => "password_changed",
            EmailMessage::AccountDeleted { .. } => "account_deleted",
            EmailMessage::OcrDone { .. } => "ocr_done",
            EmailMessage::OcrFailed { .. } => "ocr_failed",
        }
    }

    /// The OCR job an e-mail is about, if any (for the logs).
    pub fn job_id(&self) -> Option<&str> {
        match &self.message {
            EmailMessage::OcrDone { job_id, .. } | EmailMessage::OcrFailed { job_id, .. } => Some(job_id),
            _ => None,
        }
    }
}

/// Where e-mail jobs go; the notify function sends them.
#[async_trait::async_trait]
pub trait EmailQueue: Send + Sync {
    async fn enqueue(&self, job: &EmailJob) -> Result<(), crate::ports::QueueError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let job = EmailJob::new(
            Email::parse("a@b.co").unwrap(),
            EmailMessage::VerifyCode { code: "012345".into(), expires_in_minutes: 10 },
        );
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["to"], "a@b.co");
        assert_eq!(json["template"], "verify_code");
        assert_eq!(json["params"]["code"], "012345");
        let back: EmailJob = serde_json::from_value(json).unwrap();
        assert_eq!(back, job);
    }
}
