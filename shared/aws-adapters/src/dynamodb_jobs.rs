//! DynamoDB adapter for jobs: `pk` = owner id, `sk` = job id (UUIDv7, so a
//! descending query lists newest first). Abandoned jobs carry `expires_at`
//! for the table's TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::dynamodb::{
    Item, TTL_ATTRIBUTE, corrupt, delete_versioned, get_n, get_s, get_time, number, put_versioned, store_error,
    timestamp,
};
use domain::jobs::ports::{IdempotencyStore, JobPage, JobStore, JobWeight, PageCharge};
use domain::jobs::{
    EngineChoice, IdempotencyKey, IdempotencyRecord, Job, JobId, JobStatus, OcrMode, OcrResult, StoredResult,
};
use domain::ports::StoreError;
use domain::values::{Email, UserId};

#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn optional_time(item: &Item, field: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    item.contains_key(field).then(|| get_time(item, field)).transpose()
}

fn job_to_item(job: &Job) -> Result<Item, StoreError> {
    let mut item = Item::from([
        ("pk".into(), AttributeValue::S(job.owner.to_string())),
        ("sk".into(), AttributeValue::S(job.id.to_string())),
        ("owner_email".into(), AttributeValue::S(job.owner_email.to_string())),
        ("status".into(), AttributeValue::S(job.status.as_str().into())),
        ("created_at".into(), timestamp(job.created_at)),
        ("updated_at".into(), timestamp(job.updated_at)),
        ("upload_key".into(), AttributeValue::S(job.upload_key.clone())),
        ("content_type".into(), AttributeValue::S(job.content_type.clone())),
        ("bytes".into(), number(job.bytes)),
        ("notified".into(), AttributeValue::Bool(job.notified)),
        ("version".into(), number(job.version)),
    ]);
    let times = [("started_at", job.started_at), ("finished_at", job.finished_at)];
    for (field, value) in times {
        if let Some(t) = value {
            item.insert(field.into(), timestamp(t));
        }
    }
    if let Some(expiry) = job.expires_at {
        item.insert(TTL_ATTRIBUTE.into(), number(expiry.unix_timestamp()));
    }
    if let Some(failure) = &job.failure {
        item.insert("failure".into(), AttributeValue::S(failure.clone()));
    }
    if job.ocr == OcrMode::Always {
        item.insert("ocr".into(), AttributeValue::S("always".into()));
    }
    item.insert("engine".into(), AttributeValue::S(job.engine.as_str().into()));
    if let Some(pages) = job.pages_total {
        item.insert("pages_total".into(), number(pages));
        item.insert("pages_done".into(), number(job.pages_done));
    }
    match &job.result {
        None => {}
        Some(StoredResult::Inline(result)) => {
            let json = serde_json::to_string(result).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            item.insert("result".into(), AttributeValue::S(json));
        }
        Some(StoredResult::Blob { key, preview }) => {
            item.insert("result_key".into(), AttributeValue::S(key.clone()));
            item.insert("result_preview".into(), AttributeValue::S(preview.clone()));
        }
    }
    Ok(item)
}

fn job_from_item(item: &Item) -> Result<Job, StoreError> {
    let result = if let Some(json) = item.get("result").and_then(|v| v.as_s().ok()) {
        Some(StoredResult::Inline(serde_json::from_str::<OcrResult>(json).map_err(|_| corrupt("result"))?))
    } else if let Some(key) = item.get("result_key").and_then(|v| v.as_s().ok()) {
        Some(StoredResult::Blob { key: key.clone(), preview: get_s(item, "result_preview")?.to_owned() })
    } else {
        None
    };
    let expires_at = match item.get(TTL_ATTRIBUTE) {
        Some(_) => {
            Some(OffsetDateTime::from_unix_timestamp(get_n(item, TTL_ATTRIBUTE)?).map_err(|_| corrupt(TTL_ATTRIBUTE))?)
        }
        None => None,
    };
    Ok(Job {
        id: get_s(item, "sk")?.parse::<JobId>().map_err(|_| corrupt("sk"))?,
        owner: get_s(item, "pk")?.parse::<UserId>().map_err(|_| corrupt("pk"))?,
        owner_email: Email::parse(get_s(item, "owner_email")?).map_err(|_| corrupt("owner_email"))?,
        status: get_s(item, "status")?.parse::<JobStatus>().map_err(|_| corrupt("status"))?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        started_at: optional_time(item, "started_at")?,
        finished_at: optional_time(item, "finished_at")?,
        upload_key: get_s(item, "upload_key")?.to_owned(),
        content_type: get_s(item, "content_type")?.to_owned(),
        bytes: get_n(item, "bytes")?,
        result,
        pages_total: item.contains_key("pages_total").then(|| get_n(item, "pages_total")).transpose()?,
        pages_done: if item.contains_key("pages_done") { get_n(item, "pages_done")? } else { 0 },
        failure: item.get("failure").and_then(|v| v.as_s().ok()).cloned(),
        notified: *item.get("notified").and_then(|v| v.as_bool().ok()).ok_or_else(|| corrupt("notified"))?,
        ocr: match item.get("ocr").and_then(|v| v.as_s().ok()).map(String::as_str) {
            None | Some("auto") => OcrMode::Auto,
            Some("always") => OcrMode::Always,
            Some(_) => return Err(corrupt("ocr")),
        },
        // Jobs stored before the choice existed were all for ocrs.
        engine: match item.get("engine").and_then(|v| v.as_s().ok()) {
            None => EngineChoice::Ocrs,
            Some(name) => EngineChoice::parse(name).ok_or_else(|| corrupt("engine"))?,
        },
        expires_at,
        version: get_n(item, "version")?,
    })
}

fn key(owner: &UserId, id: &JobId) -> Item {
    Item::from([("pk".into(), AttributeValue::S(owner.to_string())), ("sk".into(), AttributeValue::S(id.to_string()))])
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create_job(&self, job: &Job) -> Result<(), StoreError> {
        put_versioned(&self.client, &self.table, job_to_item(job)?, 0).await
    }

    async fn find_job(&self, owner: &UserId, id: &JobId) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(owner, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item.as_ref().map(job_from_item).transpose()
    }

    async fn update_job(&self, job: &Job) -> Result<(), StoreError> {
        if job.version < 2 {
            return Err(StoreError::Conflict);
        }
        put_versioned(&self.client, &self.table, job_to_item(job)?, job.version - 1).await
    }

    async fn delete_job(&self, job: &Job) -> Result<(), StoreError> {
        delete_versioned(&self.client, &self.table, key(&job.owner, &job.id), job.version).await
    }

    async fn list_jobs(&self, owner: &UserId, after: Option<JobId>, limit: usize) -> Result<JobPage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            // An account's deletion sweeps with this list: it must see
            // every job written before it looked (see JobService).
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after.map(|a| key(owner, &a)))
            .send()
            .await
            .map_err(store_error)?;
        let jobs = out.items.unwrap_or_default().iter().map(job_from_item).collect::<Result<Vec<_>, _>>()?;
        let next =
            out.last_evaluated_key.and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).and_then(|s| s.parse().ok()));
        Ok(JobPage { jobs, next })
    }

    /// One conditional `ADD`: parallel requests are serialised by
    /// DynamoDB, and the count is read only from the item itself.
    async fn charge_pages(
        &self,
        owner: &UserId,
        day: time::Date,
        pages: u32,
        limit: u32,
    ) -> Result<PageCharge, StoreError> {
        let key = pages_key(owner, day);
        let expires = day.midnight().assume_utc() + time::Duration::days(2);
        let charged = match limit.checked_sub(pages) {
            None => None,
            Some(room) => {
                let out = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .update_expression("ADD pages :pages SET #ttl = :expires")
                    .condition_expression("attribute_not_exists(pages) OR pages <= :room")
                    .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                    .expression_attribute_values(":pages", number(pages))
                    .expression_attribute_values(":room", number(room))
                    .expression_attribute_values(":expires", number(expires.unix_timestamp()))
                    .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                    .send()
                    .await;
                match out.map_err(store_error) {
                    Ok(out) => Some(get_n::<u32>(&out.attributes.unwrap_or_default(), "pages")?),
                    Err(StoreError::Conflict) => None,
                    Err(e) => return Err(e),
                }
            }
        };
        if let Some(used) = charged {
            return Ok(PageCharge::Charged { used });
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let used = match out.item {
            Some(item) if item.contains_key("pages") => get_n(&item, "pages")?,
            _ => 0,
        };
        Ok(PageCharge::Over { used })
    }

    async fn forget_page_counts(&self, owner: &UserId) -> Result<(), StoreError> {
        self.delete_partition(pages_partition(owner)).await.map(|_| ())
    }

    /// Job ids are UUIDv7, time-ordered: the jobs created since `since` are
    /// a key range, read with their state, age and pages only.
    async fn recent_jobs(&self, owner: &UserId, since: OffsetDateTime) -> Result<Vec<JobWeight>, StoreError> {
        let millis = (since.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let first_id = format!("{:08x}-{:04x}-7000-8000-000000000000", millis >> 16, millis & 0xffff);
        let mut weights = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :owner AND sk >= :first")
                .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
                .expression_attribute_values(":first", AttributeValue::S(first_id.clone()))
                .expression_attribute_names("#status", "status")
                .projection_expression("#status, created_at, pages_total")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            for item in out.items.unwrap_or_default() {
                weights.push(JobWeight {
                    status: get_s(&item, "status")?.parse::<JobStatus>().map_err(|_| corrupt("status"))?,
                    created_at: get_time(&item, "created_at")?,
                    pages_total: item.contains_key("pages_total").then(|| get_n(&item, "pages_total")).transpose()?,
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(weights);
            }
        }
    }
}

/// Pages asked for per owner and UTC day live in the jobs table, one
/// partition per owner (`PAGES#<owner>`, sorted by day), gone by TTL two
/// days later.
fn pages_partition(owner: &UserId) -> AttributeValue {
    AttributeValue::S(format!("PAGES#{owner}"))
}

fn pages_key(owner: &UserId, day: time::Date) -> Item {
    Item::from([("pk".into(), pages_partition(owner)), ("sk".into(), AttributeValue::S(day.to_string()))])
}

/// Idempotency keys live in the jobs table, one partition per owner
/// (`IDEMPOTENCY#<owner>`, sorted by key): never in job listings, and all
/// found again when the account goes.
fn idempotency_partition(owner: &UserId) -> AttributeValue {
    AttributeValue::S(format!("IDEMPOTENCY#{owner}"))
}

fn idempotency_key(owner: &UserId, key: &IdempotencyKey) -> Item {
    Item::from([("pk".into(), idempotency_partition(owner)), ("sk".into(), AttributeValue::S(key.as_str().into()))])
}

#[async_trait]
impl IdempotencyStore for DynamoJobStore {
    async fn find_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(IdempotencyRecord, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(owner, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record = serde_json::from_str(get_s(&item, "doc")?).map_err(|_| corrupt("doc"))?;
        Ok(Some((record, get_n(&item, "version")?)))
    }

    async fn save_key(
        &self,
        owner: &UserId,
        key: &IdempotencyKey,
        record: &IdempotencyRecord,
        version: u64,
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(record).map_err(|_| corrupt("doc"))?;
        let mut item = idempotency_key(owner, key);
        item.insert("doc".into(), AttributeValue::S(doc));
        item.insert("version".into(), number(version));
        item.insert(TTL_ATTRIBUTE.into(), number(record.expires_at().unix_timestamp()));
        put_versioned(&self.client, &self.table, item, version - 1).await
    }

    async fn delete_key(&self, owner: &UserId, key: &IdempotencyKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(owner, key)))
            .send()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn delete_all_keys(&self, owner: &UserId) -> Result<usize, StoreError> {
        self.delete_partition(idempotency_partition(owner)).await
    }
}

impl DynamoJobStore {
    /// Every item of one partition (an account's keys or page counts);
    /// how many there were.
    async fn delete_partition(&self, partition: AttributeValue) -> Result<usize, StoreError> {
        let mut removed = 0;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :partition")
                .expression_attribute_values(":partition", partition.clone())
                .projection_expression("pk, sk")
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            let items = out.items.unwrap_or_default();
            if items.is_empty() {
                return Ok(removed);
            }
            for item in items {
                let key = Item::from_iter(item.into_iter().filter(|(name, _)| name == "pk" || name == "sk"));
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .send()
                    .await
                    .map_err(store_error)?;
                removed += 1;
            }
        }
    }
}
