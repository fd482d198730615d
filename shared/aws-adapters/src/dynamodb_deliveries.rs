//! DynamoDB adapter for the delivery log: one item per e-mail job id,
//! `SENDING` while claimed, `SENT` after; expired by the table's TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::dynamodb::{TTL_ATTRIBUTE, get_s, number, put_conditional, store_error};
use domain::notify::{Claim, DeliveryLog};
use domain::ports::StoreError;

/// How long a record of a sent e-mail is kept: longer than any redelivery.
const RETENTION: Duration = Duration::days(7);

#[derive(Debug, Clone)]
pub struct DynamoDeliveryLog {
    client: Client,
    table: String,
}

impl DynamoDeliveryLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn key(id: Uuid) -> AttributeValue {
    AttributeValue::S(id.to_string())
}

/// The log entry for `id` in `state` (SENDING or SENT) as of `now`.
fn entry(id: Uuid, state: &str, now: OffsetDateTime) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("pk".into(), key(id)),
        ("delivery".into(), AttributeValue::S(state.into())),
        ("claimed_at".into(), number(now.unix_timestamp())),
        (TTL_ATTRIBUTE.into(), number((now + RETENTION).unix_timestamp())),
    ])
}

#[async_trait]
impl DeliveryLog for DynamoDeliveryLog {
    async fn claim(&self, id: Uuid, holder: Uuid, now: OffsetDateTime, lease: Duration) -> Result<Claim, StoreError> {
        let mut claim = entry(id, "SENDING", now);
        claim.insert("holder".into(), AttributeValue::S(holder.to_string()));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .condition_expression("attribute_not_exists(pk) OR (delivery = :sending AND claimed_at < :stale)")
            .expression_attribute_values(":sending", AttributeValue::S("SENDING".into()))
            .expression_attribute_values(":stale", number((now - lease).unix_timestamp()));
        match put_conditional(request, claim).await {
            Ok(_) => Ok(Claim::Claimed),
            Err(StoreError::Conflict) => {
                let item = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", key(id))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(store_error)?
                    .item;
                match item.as_ref().map(|i| get_s(i, "delivery")).transpose()? {
                    Some("SENT") => Ok(Claim::AlreadySent),
                    Some(_) => Ok(Claim::InFlight),
                    // Released in between: let the message come back.
                    None => Ok(Claim::InFlight),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn mark_sent(&self, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry(id, "SENT", now)))
            .send()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn release(&self, id: Uuid, holder: Uuid) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", key(id))
            .condition_expression("delivery = :sending AND holder = :holder")
            .expression_attribute_values(":sending", AttributeValue::S("SENDING".into()))
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_string()))
            .send()
            .await
            .map_err(store_error);
        match result {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
