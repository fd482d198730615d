//! S3 adapter for uploaded images and large results.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use domain::ports::{BlobError, BlobStore};

/// S3's `DeleteObjects` takes at most this many keys.
const MAX_KEYS_PER_DELETE: usize = 1000;

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

fn unavailable<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> BlobError
where
    aws_sdk_s3::Error: From<aws_sdk_s3::error::SdkError<E, R>>,
{
    BlobError::Unavailable(Box::new(aws_sdk_s3::Error::from(e)))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(BlobError::NotFound);
            }
            Err(e) => return Err(unavailable(e)),
        };
        if out.content_length.is_some_and(|n| n < 0 || n as u64 > max_bytes) {
            return Err(BlobError::TooLarge(max_bytes));
        }
        let bytes = out.body.collect().await.map_err(|e| BlobError::Unavailable(Box::new(e)))?.into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Err(BlobError::TooLarge(max_bytes));
        }
        Ok(bytes.to_vec())
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map(|_| ()).map_err(unavailable)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), BlobError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let built = |e: aws_sdk_s3::error::BuildError| BlobError::Unavailable(Box::new(e));
        for chunk in keys.chunks(MAX_KEYS_PER_DELETE) {
            let objects = chunk
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(built)?;
            let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(built)?;
            let out =
                self.client.delete_objects().bucket(&self.bucket).delete(delete).send().await.map_err(unavailable)?;
            if let Some(failed) = out.errors().first() {
                let why = format!(
                    "{} of {} objects were not deleted, {:?} first: {}",
                    out.errors().len(),
                    chunk.len(),
                    failed.key().unwrap_or_default(),
                    failed.message().unwrap_or_default()
                );
                return Err(BlobError::Unavailable(why.into()));
            }
        }
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(expires_in).map_err(|e| BlobError::Unavailable(Box::new(e)))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length as i64)
            // No SSE header here: the client would have to send it too. The
            // bucket's default encryption covers presigned uploads.
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }

    async fn presign_get(
        &self,
        key: &str,
        file_name: &str,
        expires_in: std::time::Duration,
    ) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(expires_in).map_err(|e| BlobError::Unavailable(Box::new(e)))?;
        let safe_name: String =
            file_name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{safe_name}\""))
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(request.uri().to_owned())
    }
}
