//! DynamoDB adapter: one table, keyed by `pk`, holding users (`USER#<email>`)
//! and short-lived records (`<KIND>#<...>`: a JSON document in `doc`,
//! removed by the table's TTL).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use domain::auth::ports::{RecordStore, StoredRecord, UserStore};
use domain::ports::StoreError;
use domain::user::User;
use domain::values::{Email, PersonName, UserId};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Set by every conditional put to a value of its own (see `put_conditional`).
const WRITE_ID: &str = "write_id";

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
    let request = client.put_item().table_name(table);
    let request = if expected == 0 {
        request.condition_expression("attribute_not_exists(pk)")
    } else {
        request.condition_expression("version = :expected").expression_attribute_values(":expected", number(expected))
    };
    put_conditional(request, item).await
}

/// Sends a conditional put of `item`, telling a lost answer from a conflict.
///
/// When an attempt's answer is lost (a timeout, a 5xx), the SDK sends the
/// write again; if the lost attempt had landed, the retry's condition fails
/// against the item that attempt wrote, and the caller would see a conflict
/// for a write that happened (a user revoked their own token that way). The
/// failed check returns the item it found: if that is exactly `item`, with
/// the `write_id` only this write carries (two writers may well put the
/// same content: two failed logins in one second), the write is done.
pub(crate) async fn put_conditional(request: PutItemFluentBuilder, mut item: Item) -> Result<(), StoreError> {
    item.insert(WRITE_ID.into(), AttributeValue::S(uuid::Uuid::new_v4().to_string()));
    let sent = request
        .set_item(Some(item.clone()))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) => done_unless_found_other_than(e, Some(&item)),
    }
}

/// A conditional write's failure: no failure if the check found `expected`
/// (the item a lost attempt of this very write left; `None`: no item).
fn done_unless_found_other_than<E, R>(err: SdkError<E, R>, expected: Option<&Item>) -> Result<(), StoreError>
where
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match aws_sdk_dynamodb::Error::from(err) {
        aws_sdk_dynamodb::Error::ConditionalCheckFailedException(failed) if failed.item() == expected => Ok(()),
        aws_sdk_dynamodb::Error::ConditionalCheckFailedException(_) => Err(StoreError::Conflict),
        other => Err(StoreError::Unavailable(Box::new(other))),
    }
}

fn user_key(email: &Email) -> String {
    format!("USER#{email}")
}

/// Deletes the item at `key` if its stored version is `version`. An item
/// already gone is deleted: a lost attempt of this delete (see
/// `put_conditional`) or another deleter did it.
pub(crate) async fn delete_versioned(client: &Client, table: &str, key: Item, version: u64) -> Result<(), StoreError> {
    let sent = client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression("version = :expected")
        .expression_attribute_values(":expected", number(version))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) => done_unless_found_other_than(e, None),
    }
}

pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    aws_sdk_dynamodb::Error: From<SdkError<E, R>>,
{
    match aws_sdk_dynamodb::Error::from(err) {
        aws_sdk_dynamodb::Error::ConditionalCheckFailedException(_) => StoreError::Conflict,
        other => StoreError::Unavailable(Box::new(other)),
    }
}

pub(crate) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(crate) fn timestamp(t: OffsetDateTime) -> AttributeValue {
    AttributeValue::S(t.format(&Rfc3339).expect("every OffsetDateTime formats as RFC 3339"))
}

pub(crate) fn corrupt(field: &str) -> StoreError {
    StoreError::Unavailable(format!("stored item has a missing or malformed `{field}`").into())
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
    Item::from([
        ("pk".into(), AttributeValue::S(user_key(&user.email))),
        ("id".into(), AttributeValue::S(user.id.to_string())),
        ("email".into(), AttributeValue::S(user.email.to_string())),
        ("name".into(), AttributeValue::S(user.name.as_str().into())),
        ("password_hash".into(), AttributeValue::S(user.password_hash.clone())),
        ("verified".into(), AttributeValue::Bool(true)),
        ("created_at".into(), timestamp(user.created_at)),
        ("credentials_version".into(), number(user.credentials_version)),
        ("version".into(), number(user.version)),
    ])
}

/// Registrations that were never verified were stored as users with
/// `verified = false` before pending registrations were kept apart; such an
/// item is no account, and a new registration may replace it.
fn is_unverified_leftover(item: &Item) -> bool {
    item.get("verified").and_then(|v| v.as_bool().ok()) == Some(&false)
}

fn user_from_item(item: &Item) -> Result<User, StoreError> {
    Ok(User {
        id: get_s(item, "id")?.parse::<UserId>().map_err(|_| corrupt("id"))?,
        email: Email::parse(get_s(item, "email")?).map_err(|_| corrupt("email"))?,
        name: PersonName::parse(get_s(item, "name")?).map_err(|_| corrupt("name"))?,
        password_hash: get_s(item, "password_hash")?.to_owned(),
        created_at: get_time(item, "created_at")?,
        credentials_version: if item.contains_key("credentials_version") {
            get_n(item, "credentials_version")?
        } else {
            1
        },
        version: get_n(item, "version")?,
    })
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .condition_expression("attribute_not_exists(pk) OR verified = :unverified")
            .expression_attribute_values(":unverified", AttributeValue::Bool(false));
        put_conditional(request, user_to_item(user)).await
    }

    async fn find_user(&self, email: &Email) -> Result<Option<User>, StoreError> {
        match self.get(user_key(email)).await? {
            Some(item) if !is_unverified_leftover(&item) => user_from_item(&item).map(Some),
            _ => Ok(None),
        }
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
}

#[async_trait]
impl RecordStore for DynamoUserStore {
    async fn find_record(&self, key: &str) -> Result<Option<StoredRecord>, StoreError> {
        let Some(item) = self.get(key.to_owned()).await? else {
            return Ok(None);
        };
        let body = serde_json::from_str(get_s(&item, "doc")?).map_err(|_| corrupt("doc"))?;
        let expires_at =
            OffsetDateTime::from_unix_timestamp(get_n(&item, TTL_ATTRIBUTE)?).map_err(|_| corrupt(TTL_ATTRIBUTE))?;
        Ok(Some(StoredRecord { body, version: get_n(&item, "version")?, expires_at }))
    }

    async fn save_record(&self, key: &str, record: &StoredRecord) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), AttributeValue::S(key.to_owned())),
            ("doc".into(), AttributeValue::S(record.body.to_string())),
            ("version".into(), number(record.version)),
            (TTL_ATTRIBUTE.into(), number(record.expires_at.unix_timestamp())),
        ]);
        self.put_versioned(item, record.version.saturating_sub(1)).await
    }
}
