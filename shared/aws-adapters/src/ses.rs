//! SES adapter: sends rendered e-mail from the configured sender.

use async_trait::async_trait;
use aws_sdk_ses::Client;
use aws_sdk_ses::operation::send_email::SendEmailError;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use domain::notify::{MailError, Mailer, RenderedEmail};
use domain::values::Email;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    sender: Email,
}

impl SesMailer {
    pub fn new(client: Client, sender: Email) -> Self {
        Self { client, sender }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|e| MailError::Rejected(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, to: &Email, email: &RenderedEmail) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).html(content(&email.html)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .source(self.sender.as_str())
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .message(message)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                // A bad recipient (or content SES refuses): final.
                Some(SendEmailError::MessageRejected(m)) => Err(MailError::Rejected(m.to_string())),
                // Throttling, 5xx, an unverified sender (fixable by the
                // operator): retried, and dead-lettered if it lasts.
                _ => Err(MailError::Unavailable(Box::new(aws_sdk_ses::Error::from(e)))),
            },
        }
    }
}
