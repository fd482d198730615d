//! DynamoDB adapter: one table, keyed by `pk`, holding users (`USER#<email>`)
//! and code-send logs (`CODESEND#<email>`, expired by the table's TTL).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::{Email, PersonName, UserId};
use crate::ports::{StoreError, UserStore};
use crate::user::{CodeSendLog, PendingCode, SendPolicy, User};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The table's TTL attribute (see template.yaml).
pub const TTL_ATTRIBUTE: &str = "expires_at";

#[derive(Debug, Clone)]
pub struct DynamoUserStore {
    client: Client,
    table: String,
}

impl DynamoUserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn get(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.item)
    }

    async fn put_versioned(&self, item: Item, expected: u64) -> Result<(), StoreError> {
        put_versioned(&self.client, &self.table, item, expected).await
    }
}

/// Puts `item` if the stored version is `expected` (0 = nothing stored).
/// Every table keys on `pk` (and `sk` where it has one).
pub(crate) async fn put_versioned(client: &Client, table: &str, item: Item, expected: u64) -> Result<(), StoreError> {
    let request = client.put_item().table_name(table).set_item(Some(item));
    let request = if expected == 0 {
        request.condition_expression("attribute_not_exists(pk)")
    } else {
        request.condition_expression("version = :expected").expression_attribute_values(":expected", number(expected))
    };
    request.send().await.map(|_| ()).map_err(store_error)
}

fn user_key(email: &Email) -> String {
    format!("USER#{email}")
}

fn send_log_key(email: &Email) -> String {
    format!("CODESEND#{email}")
}

/// Deletes the item at `key` if its stored version is `version`.
pub(crate) async fn delete_versioned(client: &Client, table: &str, key: Item, version: u64) -> Result<(), StoreError> {
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("version = :expected")
        .expression_attribute_values(":expected", number(version))
        .send()
        .await
        .map(|_| ())
        .map_err(store_error)
}

pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match aws_sdk_dynamodb::Error::from(err) {
        aws_sdk_dynamodb::Error::ConditionalCheckFailedException(_) => StoreError::Conflict,
        other => StoreError::Unavailable(DisplayErrorContext(other).to_string()),
    }
}

pub(crate) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(crate) fn timestamp(t: OffsetDateTime) -> AttributeValue {
    AttributeValue::S(t.format(&Rfc3339).expect("every OffsetDateTime formats as RFC 3339"))
}

pub(crate) fn corrupt(field: &str) -> StoreError {
    StoreError::Unavailable(format!("stored item has a missing or malformed `{field}`"))
}

pub(crate) fn get_s<'a>(item: &'a Item, field: &str) -> Result<&'a str, StoreError> {
    item.get(field).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| corrupt(field))
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, field: &str) -> Result<T, StoreError> {
    item.get(field).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).ok_or_else(|| corrupt(field))
}

pub(crate) fn get_time(item: &Item, field: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(get_s(item, field)?, &Rfc3339).map_err(|_| corrupt(field))
}

fn user_to_item(user: &User) -> Item {
    let mut item = Item::from([
        ("pk".into(), AttributeValue::S(user_key(&user.email))),
        ("id".into(), AttributeValue::S(user.id.to_string())),
        ("email".into(), AttributeValue::S(user.email.to_string())),
        ("name".into(), AttributeValue::S(user.name.as_str().into())),
        ("password_hash".into(), AttributeValue::S(user.password_hash.clone())),
        ("verified".into(), AttributeValue::Bool(user.verified)),
        ("created_at".into(), timestamp(user.created_at)),
        ("version".into(), number(user.version)),
    ]);
    if let Some(code) = &user.pending_code {
        item.insert("code_hash".into(), AttributeValue::B(Blob::new(code.hash.clone())));
        item.insert("code_expires_at".into(), timestamp(code.expires_at));
        item.insert("code_attempts".into(), number(code.attempts));
    }
    item
}

fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let pending_code = match item.get("code_hash").and_then(|v| v.as_b().ok()) {
        Some(hash) => Some(PendingCode {
            hash: hash.as_ref().to_vec(),
            expires_at: get_time(item, "code_expires_at")?,
            attempts: get_n(item, "code_attempts")?,
        }),
        None => None,
    };
    Ok(User {
        id: get_s(item, "id")?.parse::<UserId>().map_err(|_| corrupt("id"))?,
        email: Email::parse(get_s(item, "email")?).map_err(|_| corrupt("email"))?,
        name: PersonName::parse(get_s(item, "name")?).map_err(|_| corrupt("name"))?,
        password_hash: get_s(item, "password_hash")?.to_owned(),
        verified: *item.get("verified").and_then(|v| v.as_bool().ok()).ok_or_else(|| corrupt("verified"))?,
        created_at: get_time(item, "created_at")?,
        pending_code,
        version: get_n(item, "version")?,
    })
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        self.put_versioned(user_to_item(user), 0).await
    }

    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.get(user_key(email)).await?.as_ref().map(user_from_item).transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        if user.version < 2 {
            return Err(StoreError::Conflict);
        }
        self.put_versioned(user_to_item(user), user.version - 1).await
    }

    async fn delete_user(&self, user: &User) -> Result<(), StoreError> {
        let key = Item::from([("pk".into(), AttributeValue::S(user_key(&user.email)))]);
        delete_versioned(&self.client, &self.table, key, user.version).await
    }

    async fn find_send_log(&self, email: &Email) -> Result<Option<CodeSendLog>, StoreError> {
        let Some(item) = self.get(send_log_key(email)).await? else {
            return Ok(None);
        };
        let sent_at = item
            .get("sent_at")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| corrupt("sent_at"))?
            .iter()
            .map(|v| {
                v.as_s().ok().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok()).ok_or_else(|| corrupt("sent_at"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(CodeSendLog { email: email.clone(), sent_at, version: get_n(&item, "version")? }))
    }

    async fn save_send_log(&self, log: &CodeSendLog) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".into(), AttributeValue::S(send_log_key(&log.email))),
            ("sent_at".into(), AttributeValue::L(log.sent_at.iter().copied().map(timestamp).collect())),
            ("version".into(), number(log.version)),
        ]);
        if let Some(expiry) = log.expires_at(&SendPolicy::default()) {
            item.insert(TTL_ATTRIBUTE.into(), number(expiry.unix_timestamp()));
        }
        self.put_versioned(item, log.version.saturating_sub(1)).await
    }
}
