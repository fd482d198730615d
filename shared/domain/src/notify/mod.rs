//! Turning e-mail jobs into sent e-mail, at most once per job id.
//! Knows nothing of AWS.

use std::sync::Arc;

use time::Duration;
use uuid::Uuid;

use crate::clock::Clock;
use crate::email::{EmailJob, EmailMessage};
use crate::markup::escape_html;
use crate::ports::StoreError;

pub mod ports;
pub use ports::{Claim, DeliveryLog, MailError, Mailer};

/// An e-mail ready to hand to the mail service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.5\">{body}\
         <p style=\"color:#777;font-size:small\">Serverless OCR</p></body></html>",
        escape_html(title)
    )
}

/// Text paragraphs as HTML, line breaks kept, everything escaped.
fn html_pre(text: &str) -> String {
    format!("<pre style=\"white-space:pre-wrap\">{}</pre>", escape_html(text))
}

/// An e-mail of plain paragraphs; the HTML part is escaped from the same text.
fn paragraphs(subject: String, paragraphs: &[String]) -> RenderedEmail {
    let text = paragraphs.join("\n\n") + "\n";
    let body: String = paragraphs.iter().map(|p| format!("<p>{}</p>", escape_html(p))).collect();
    RenderedEmail { html: html_page(&subject, &body), subject, text }
}

const NOT_YOU: &str = "If this was not you, your account is safe: nothing was changed, and you can ignore this e-mail.";

pub fn render(job: &EmailJob) -> RenderedEmail {
    match &job.message {
        EmailMessage::AccountExists { name } => paragraphs(
            "Someone tried to sign up with your address".into(),
            &[
                format!("Hello {name},"),
                "someone tried to create an account with this address, which already has one.".into(),
                "If it was you, log in instead; if you forgot your password, reset it with \
                 POST /auth/password/forgot."
                    .into(),
                NOT_YOU.into(),
            ],
        ),
        EmailMessage::PasswordResetCode { name, code, expires_in_minutes } => paragraphs(
            format!("Your password reset code: {code}"),
            &[
                format!("Hello {name},"),
                format!("your password reset code is {code}. It is valid for {expires_in_minutes} minutes."),
                "Set a new password with POST /auth/password/reset.".into(),
                NOT_YOU.into(),
            ],
        ),
        EmailMessage::NoAccount {} => paragraphs(
            "Password reset requested".into(),
            &[
                "Someone asked to reset the password of an account with this address, but there is none.".into(),
                "If it was you, perhaps you signed up with another address.".into(),
                NOT_YOU.into(),
            ],
        ),
        EmailMessage::PasswordChanged { name } => paragraphs(
            "Your password was changed".into(),
            &[
                format!("Hello {name},"),
                "the password of your account was just changed, and every session signed in before was \
                 signed out."
                    .into(),
                "If this was not you, reset your password now with POST /auth/password/forgot.".into(),
            ],
        ),
        EmailMessage::AccountDeleted { name } => paragraphs(
            "Your account was deleted".into(),
            &[format!("Hello {name},"), "your account was deleted, with every image, job and result it held.".into()],
        ),
        EmailMessage::VerifyCode { code, expires_in_minutes } => {
            let subject = format!("Your verification code: {code}");
            let text = format!(
                "Hello,\n\nyour verification code is {code}. It is valid for {expires_in_minutes} minutes.\n\n\
                 If you did not sign up, ignore this e-mail.\n"
            );
            let html = html_page(
                &subject,
                &format!(
                    "<p>Hello,</p><p>your verification code is <strong style=\"font-size:1.4em\">{}</strong>. \
                     It is valid for {expires_in_minutes} minutes.</p><p>If you did not sign up, ignore this e-mail.</p>",
                    escape_html(code)
                ),
            );
            RenderedEmail { subject, text, html }
        }
        EmailMessage::OcrDone { job_id, excerpt, result_path } => {
            let subject = "Your text is ready".to_owned();
            let text = format!(
                "The text of job {job_id} is ready. It begins:\n\n{excerpt}\n\n\
                 The full result, with the position of every line: GET {result_path}\n"
            );
            let html = html_page(
                &subject,
                &format!(
                    "<p>The text of job <code>{}</code> is ready. It begins:</p>{}\
                     <p>The full result, with the position of every line: <code>GET {}</code></p>",
                    escape_html(job_id),
                    html_pre(excerpt),
                    escape_html(result_path)
                ),
            );
            RenderedEmail { subject, text, html }
        }
        EmailMessage::OcrFailed { job_id, reason } => {
            let subject = "We could not read your image".to_owned();
            let text = format!("Job {job_id} failed: {reason}\n\nUpload another image to try again.\n");
            let html = html_page(
                &subject,
                &format!(
                    "<p>Job <code>{}</code> failed: {}</p><p>Upload another image to try again.</p>",
                    escape_html(job_id),
                    escape_html(reason)
                ),
            );
            RenderedEmail { subject, text, html }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The job id was already sent: nothing was sent again.
    Duplicate,
}

/// Why an e-mail job was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("not a valid e-mail job")]
    NotAnEmailJob(#[source] serde_json::Error),
    #[error("the delivery log is unavailable")]
    Log(#[source] StoreError),
    #[error("e-mail {0} is being sent by another worker")]
    InFlight(Uuid),
    #[error("the mail service rejected it: {0}")]
    Rejected(String),
    #[error(transparent)]
    MailUnavailable(MailError),
}

impl NotifyError {
    /// Retrying cannot help: the message is malformed, or the mail service
    /// refused it for good.
    pub fn is_permanent(&self) -> bool {
        matches!(self, NotifyError::NotAnEmailJob(_) | NotifyError::Rejected(_))
    }
}

pub struct Notifier {
    mailer: Arc<dyn Mailer>,
    log: Arc<dyn DeliveryLog>,
    clock: Arc<dyn Clock>,
    /// How long a claim holds before another worker may take over; longer
    /// than the notify function's timeout.
    lease: Duration,
}

impl Notifier {
    pub fn new(mailer: Arc<dyn Mailer>, log: Arc<dyn DeliveryLog>, clock: Arc<dyn Clock>, lease: Duration) -> Self {
        Self { mailer, log, clock, lease }
    }

    /// Parses a queue message into an e-mail job.
    pub fn parse(body: &str) -> Result<EmailJob, NotifyError> {
        serde_json::from_str(body).map_err(NotifyError::NotAnEmailJob)
    }

    /// Sends `job` unless its id was sent before.
    pub async fn deliver(&self, job: &EmailJob) -> Result<Delivery, NotifyError> {
        let holder = Uuid::new_v4();
        match self.log.claim(job.id, holder, self.clock.now(), self.lease).await.map_err(NotifyError::Log)? {
            Claim::AlreadySent => return Ok(Delivery::Duplicate),
            Claim::InFlight => return Err(NotifyError::InFlight(job.id)),
            Claim::Claimed => {}
        }
        match self.mailer.send(&job.to, &render(job)).await {
            Ok(()) => {
                if let Err(e) = self.log.mark_sent(job.id, self.clock.now()).await {
                    // The mail went out; at worst a redelivery after the
                    // lease sends it again.
                    tracing::warn!(email_id = %job.id, error = %e, "sent, but could not record it");
                }
                tracing::info!(email_id = %job.id, template = job.template(), "e-mail sent");
                Ok(Delivery::Sent)
            }
            Err(MailError::Rejected(why)) => {
                // Keep the claim: this id must not be tried again.
                let _ = self.log.mark_sent(job.id, self.clock.now()).await;
                Err(NotifyError::Rejected(why))
            }
            Err(unavailable @ MailError::Unavailable(_)) => {
                if let Err(e) = self.log.release(job.id, holder).await {
                    tracing::warn!(email_id = %job.id, error = %e, "could not release the claim; a retry waits for the lease");
                }
                Err(NotifyError::MailUnavailable(unavailable))
            }
        }
    }
}

#[cfg(test)]
mod tests;
