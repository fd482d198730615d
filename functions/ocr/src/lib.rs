//! The OCR worker: an SQS batch of S3 upload notifications in, a
//! `batchItemFailures` response out. Lambda runs it through
//! `lambda_runtime`; the local runner feeds it from a poller.

pub mod engine;
#[cfg(feature = "stock")]
pub mod stock;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use percent_encoding::percent_decode_str;
use shared::jobs::{JobProcessor, parse_upload_key};

/// S3 URL-encodes keys in notifications, with `+` for spaces.
fn decode_key(raw: &str) -> String {
    percent_decode_str(&raw.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// What one SQS message asks for.
#[derive(Debug, PartialEq, Eq)]
enum Notification {
    /// S3's check that it may write to the queue.
    Test,
    Objects(Vec<(String, String)>),
}

fn parse_notification(body: &str) -> Result<Notification, String> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    // Only the fields used are read: emulators (and S3 event versions)
    // differ in the rest, which aws_lambda_events' S3Event requires.
    let records = value
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| "not an S3 notification: no Records".to_owned())?;
    let mut objects = Vec::new();
    for record in records {
        let created = record.get("eventName").and_then(|n| n.as_str()).is_some_and(|n| n.starts_with("ObjectCreated"));
        if !created {
            continue;
        }
        let s3 = record.get("s3").ok_or_else(|| "an S3 record without `s3`".to_owned())?;
        let bucket = s3.pointer("/bucket/name").and_then(|v| v.as_str());
        let key = s3.pointer("/object/key").and_then(|v| v.as_str());
        match (bucket, key) {
            (Some(bucket), Some(key)) => objects.push((bucket.to_owned(), decode_key(key))),
            _ => return Err("an S3 record without bucket name or object key".into()),
        }
    }
    Ok(Notification::Objects(objects))
}

/// Handles one message; `Err` means "retry this message".
async fn handle_message(processor: &JobProcessor, message: &SqsMessage) -> Result<(), String> {
    let body = message.body.as_deref().unwrap_or_default();
    match parse_notification(body)? {
        Notification::Test => {
            tracing::info!("S3 test event acknowledged");
            Ok(())
        }
        Notification::Objects(objects) => {
            for (bucket, key) in objects {
                let Some((owner, job)) = parse_upload_key(&key) else {
                    tracing::warn!(bucket, key, "object is not a job upload; ignored");
                    continue;
                };
                let outcome = processor.process(&owner, &job).await.map_err(|e| e.to_string())?;
                tracing::info!(job_id = %job, ?outcome, "upload handled");
            }
            Ok(())
        }
    }
}

/// Processes every record; reports only the ones to retry. Permanent
/// problems with an image are recorded on its job (FAILED) and acknowledged.
pub async fn handle_batch(processor: &JobProcessor, event: SqsEvent) -> SqsBatchResponse {
    shared::sqs_batch::each_record(&event, |message| handle_message(processor, message)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(decode_key("uploads/a%2Fb+c"), "uploads/a/b c");
    }

    #[test]
    fn understands_test_events_and_object_created_records() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-22T05:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"}"#;
        assert_eq!(parse_notification(test), Ok(Notification::Test));
        let created = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventTime":"2026-11-22T05:00:00.000Z","eventName":"ObjectCreated:Put",
            "userIdentity":{"principalId":"x"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},
            "responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"c",
            "bucket":{"name":"bucket","ownerIdentity":{"principalId":"x"},"arn":"arn:aws:s3:::bucket"},
            "object":{"key":"uploads/u/j%3D","size":10,"eTag":"e","sequencer":"0"}}}]}"#;
        assert_eq!(
            parse_notification(created),
            Ok(Notification::Objects(vec![("bucket".into(), "uploads/u/j=".into())]))
        );
        assert!(parse_notification("not json").is_err());
        assert!(parse_notification(r#"{"hello":1}"#).is_err());
    }
}
