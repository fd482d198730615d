//! Creates, on the emulator, every table, queue and secret that template.yaml
//! declares, and resolves each function's environment from the same file.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow, bail};
use aws_adapters::AwsClients;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use platform::config::Env;
use serde_norway::Value;

use crate::template::{NO_VALUE, Physical, Resolver, Template};

pub const REGION: &str = "us-east-1";

/// The resources of one local deployment of the template.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    template: Template,
    parameters: HashMap<String, String>,
    pseudo: HashMap<String, String>,
    resources: HashMap<String, Physical>,
}

impl Stack {
    /// Creates the stack's resources. Names are `<stack name>-<logical id>`,
    /// so several stacks (parallel tests) share one emulator safely.
    pub async fn provision(
        template: Template,
        name: &str,
        parameter_overrides: &HashMap<String, String>,
        clients: &AwsClients,
    ) -> Result<Self> {
        let account = account_id(clients).await;
        let pseudo = HashMap::from([
            ("AWS::Region".to_string(), REGION.to_string()),
            ("AWS::AccountId".to_string(), account.clone()),
            ("AWS::StackName".to_string(), name.to_string()),
            (
                "AWS::StackId".to_string(),
                format!("arn:aws:cloudformation:{REGION}:{account}:stack/{name}/{}", uuid::Uuid::new_v4()),
            ),
            ("AWS::Partition".to_string(), "aws".to_string()),
            ("AWS::URLSuffix".to_string(), "amazonaws.com".to_string()),
        ]);
        let mut stack = Self {
            name: name.to_owned(),
            parameters: template.parameters(parameter_overrides),
            template,
            pseudo,
            resources: HashMap::new(),
        };
        stack.create_secrets(clients).await?;
        stack.create_tables(clients).await?;
        stack.create_queues(clients).await?;
        stack.create_buckets(clients).await?;
        stack.verify_email_identities(clients).await?;
        Ok(stack)
    }

    fn physical_name(&self, logical_id: &str) -> String {
        format!("{}-{logical_id}", self.name)
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{REGION}:{}:{resource}", self.pseudo["AWS::AccountId"])
    }

    fn resolver(&self) -> Resolver<'_> {
        Resolver {
            parameters: &self.parameters,
            pseudo: &self.pseudo,
            resources: &self.resources,
            conditions: self.template.conditions(),
        }
    }

    /// Creates each secret in the emulator's Secrets Manager, where the
    /// functions read it as they do in AWS. A secret that already exists
    /// (the same stack started again) is kept, so tokens and pending codes
    /// survive a restart, as they survive a redeploy.
    async fn create_secrets(&mut self, clients: &AwsClients) -> Result<()> {
        let secrets = clients.secrets_manager();
        for (logical_id, _) in self.template.resources_of_type("AWS::SecretsManager::Secret") {
            let name = self.physical_name(&logical_id);
            let value: String = (0..64)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
                .collect();
            let created = secrets.create_secret().name(&name).secret_string(&value).send().await;
            let arn = match created {
                Ok(out) => out.arn.ok_or_else(|| anyhow!("the emulator created {name} without an ARN"))?,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                    let existing = secrets.describe_secret().secret_id(&name).send().await.map_err(|e| {
                        anyhow!("reading secret {name}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                    })?;
                    existing.arn.ok_or_else(|| anyhow!("the emulator's secret {name} has no ARN"))?
                }
                Err(e) => bail!("creating secret {name}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)),
            };
            self.resources.insert(logical_id, Physical { reference: arn, ..Default::default() });
        }
        Ok(())
    }

    async fn create_tables(&mut self, clients: &AwsClients) -> Result<()> {
        for (logical_id, props) in self.template.resources_of_type("AWS::DynamoDB::Table") {
            let name = self.physical_name(&logical_id);
            let props = self.resolver().resolve(&Value::Mapping(props))?;
            create_table(clients, &name, &props).await.with_context(|| format!("creating table {logical_id}"))?;
            let arn = self.arn("dynamodb", &format!("table/{name}"));
            self.resources.insert(
                logical_id,
                Physical { reference: name, attributes: HashMap::from([("Arn".to_string(), arn)]) },
            );
        }
        Ok(())
    }

    /// Creates queues in dependency order: a dead-letter queue before the
    /// queue whose RedrivePolicy names it.
    async fn create_queues(&mut self, clients: &AwsClients) -> Result<()> {
        let mut pending = self.template.resources_of_type("AWS::SQS::Queue");
        while !pending.is_empty() {
            let before = pending.len();
            let mut still_pending = Vec::new();
            for (logical_id, props) in pending {
                match self.resolver().resolve(&Value::Mapping(props.clone())) {
                    Ok(resolved) => self.create_queue(clients, &logical_id, &resolved).await?,
                    Err(_) => still_pending.push((logical_id, props)),
                }
            }
            if still_pending.len() == before {
                let (logical_id, props) = &still_pending[0];
                let err = self.resolver().resolve(&Value::Mapping(props.clone())).unwrap_err();
                bail!("queue {logical_id} cannot be created: {err}");
            }
            pending = still_pending;
        }
        Ok(())
    }

    async fn create_queue(&mut self, clients: &AwsClients, logical_id: &str, props: &Value) -> Result<()> {
        let fifo = props.get("FifoQueue").and_then(Value::as_bool).unwrap_or(false);
        let name = format!("{}{}", self.physical_name(logical_id), if fifo { ".fifo" } else { "" });
        let mut request = clients.sqs().create_queue().queue_name(&name);
        for (key, value) in props.as_mapping().into_iter().flatten() {
            let Some(key) = key.as_str() else { continue };
            let text = match value {
                Value::Mapping(_) => serde_json::to_string(&yaml_to_json(value))?,
                other => match other {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                },
            };
            if !QueueAttributeName::values().contains(&key) {
                continue; // Tags and the like.
            }
            request = request.attributes(QueueAttributeName::from(key), text);
        }
        let url = request
            .send()
            .await
            .map_err(|e| anyhow!("creating queue {logical_id}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .ok_or_else(|| anyhow!("creating queue {logical_id}: no URL returned"))?;
        let arn = clients
            .sqs()
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .ok()
            .and_then(|o| o.attributes)
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_else(|| self.arn("sqs", &name));
        self.resources.insert(
            logical_id.to_owned(),
            Physical {
                reference: url,
                attributes: HashMap::from([("Arn".to_string(), arn), ("QueueName".to_string(), name)]),
            },
        );
        Ok(())
    }

    /// Creates buckets (after the queues their notifications name) with
    /// their S3 → SQS notifications, as the template declares them.
    async fn create_buckets(&mut self, clients: &AwsClients) -> Result<()> {
        for (logical_id, props) in self.template.resources_of_type("AWS::S3::Bucket") {
            // Bucket names are lower-case and at most 63 characters.
            let mut name = self.physical_name(&logical_id).to_ascii_lowercase();
            name.truncate(63);
            match clients.s3().create_bucket().bucket(&name).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
                Err(e) => bail!("creating bucket {logical_id}: {}", aws_sdk_s3::error::DisplayErrorContext(e)),
            }
            self.resources.insert(
                logical_id.clone(),
                Physical {
                    reference: name.clone(),
                    attributes: HashMap::from([("Arn".to_string(), format!("arn:aws:s3:::{name}"))]),
                },
            );
            let props = self.resolver().resolve(&Value::Mapping(props))?;
            if let Some(notifications) = props.get("NotificationConfiguration") {
                put_notifications(clients, &name, notifications)
                    .await
                    .with_context(|| format!("configuring notifications of bucket {logical_id}"))?;
            }
        }
        Ok(())
    }

    /// Verifies every SES identity on the emulator (which, unlike SES,
    /// needs no click on a link).
    async fn verify_email_identities(&mut self, clients: &AwsClients) -> Result<()> {
        for (logical_id, props) in self.template.resources_of_type("AWS::SES::EmailIdentity") {
            let identity = self
                .resolver()
                .string(props.get("EmailIdentity").ok_or_else(|| anyhow!("{logical_id}: no EmailIdentity"))?)?;
            clients
                .ses()
                .verify_email_identity()
                .email_address(&identity)
                .send()
                .await
                .map_err(|e| anyhow!("verifying {identity}: {}", aws_sdk_ses::error::DisplayErrorContext(e)))?;
            self.resources.insert(logical_id, Physical { reference: identity, ..Default::default() });
        }
        Ok(())
    }

    /// The environment a function gets in Lambda, resolved locally.
    pub fn function_env(&self, logical_id: &str) -> Result<Env> {
        Ok(Env::from_map(self.function_env_vars(logical_id)?))
    }

    /// The same, as variables to hand to a process.
    pub fn function_env_vars(&self, logical_id: &str) -> Result<HashMap<String, String>> {
        let mut env = HashMap::new();
        let unresolved: BTreeMap<String, Value> = self.template.function_environment(logical_id)?;
        for (key, value) in unresolved {
            let resolver = self.resolver();
            let value = resolver.resolve(&value).with_context(|| format!("{logical_id}: variable {key}"))?;
            if value == NO_VALUE {
                continue;
            }
            env.insert(key.clone(), resolver.string(&value).with_context(|| format!("{logical_id}: variable {key}"))?);
        }
        Ok(env)
    }

    /// How many batches Lambda would process at once for a function's SQS
    /// event source: its `MaximumConcurrency`, else unbounded (`usize::MAX`).
    pub fn sqs_maximum_concurrency(&self, logical_id: &str) -> Result<usize> {
        let Some(value) = self.template.sqs_maximum_concurrency(logical_id) else {
            return Ok(usize::MAX);
        };
        let text = self.resolver().string(value)?;
        text.parse().with_context(|| format!("{logical_id}: MaximumConcurrency {text:?} is not a number"))
    }

    /// `!Ref` of a resource: table name, queue URL, ...
    pub fn reference(&self, logical_id: &str) -> Result<&str> {
        self.resources
            .get(logical_id)
            .map(|p| p.reference.as_str())
            .ok_or_else(|| anyhow!("no local resource {logical_id}"))
    }

    pub fn attribute(&self, logical_id: &str, attribute: &str) -> Result<&str> {
        self.resources
            .get(logical_id)
            .and_then(|p| p.attributes.get(attribute))
            .map(String::as_str)
            .ok_or_else(|| anyhow!("no attribute {attribute} on local resource {logical_id}"))
    }

    pub fn template(&self) -> &Template {
        &self.template
    }
}

/// The emulator's account id (moto: 123456789012, LocalStack: 000000000000).
async fn account_id(clients: &AwsClients) -> String {
    // Creating a throwaway queue is the cheapest call whose answer carries it.
    const PROBE: &str = "account-id-probe";
    let url = clients.sqs().create_queue().queue_name(PROBE).send().await.ok().and_then(|o| o.queue_url);
    url.and_then(|u| u.split('/').rev().nth(1).map(str::to_owned))
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| "000000000000".to_owned())
}

fn yaml_to_json(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn strings<'a>(props: &'a Value, key: &str) -> Vec<&'a Value> {
    props.get(key).and_then(Value::as_sequence).map(|s| s.iter().collect()).unwrap_or_default()
}

fn field<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value.get(key).and_then(Value::as_str).ok_or_else(|| anyhow!("missing {key}"))
}

fn key_schema(elements: Vec<&Value>) -> Result<Vec<KeySchemaElement>> {
    elements
        .into_iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(field(k, "AttributeName")?)
                .key_type(KeyType::from(field(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

async fn create_table(clients: &AwsClients, name: &str, props: &Value) -> Result<()> {
    let mut request = clients
        .dynamodb()
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(strings(props, "KeySchema"))?));
    for attribute in strings(props, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(field(attribute, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(field(attribute, "AttributeType")?))
                .build()?,
        );
    }
    for index in strings(props, "GlobalSecondaryIndexes") {
        let projection =
            index.get("Projection").and_then(|p| p.get("ProjectionType")).and_then(Value::as_str).unwrap_or("ALL");
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(field(index, "IndexName")?)
                .set_key_schema(Some(key_schema(strings(index, "KeySchema"))?))
                .projection(Projection::builder().projection_type(ProjectionType::from(projection)).build())
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {} // LocalStack kept it.
        Err(e) => bail!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
    }
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        let enabled = ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(false);
        if enabled {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(field(ttl, "AttributeName")?)
                .enabled(true)
                .build()?;
            // Some emulators refuse to set a TTL twice; the first one stands.
            let _ =
                clients.dynamodb().update_time_to_live().table_name(name).time_to_live_specification(spec).send().await;
        }
    }
    Ok(())
}

async fn put_notifications(clients: &AwsClients, bucket: &str, config: &Value) -> Result<()> {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
        QueueConfiguration, S3KeyFilter,
    };
    let mut queues = Vec::new();
    for queue in strings(config, "QueueConfigurations") {
        let mut rules = Vec::new();
        let filter_rules = queue.get("Filter").and_then(|f| f.get("S3Key")).and_then(|k| k.get("Rules"));
        for rule in filter_rules.and_then(Value::as_sequence).into_iter().flatten() {
            rules.push(
                FilterRule::builder()
                    .name(FilterRuleName::from(field(rule, "Name")?.to_ascii_lowercase().as_str()))
                    .value(field(rule, "Value")?)
                    .build(),
            );
        }
        let mut builder =
            QueueConfiguration::builder().queue_arn(field(queue, "Queue")?).events(Event::from(field(queue, "Event")?));
        if !rules.is_empty() {
            builder = builder.filter(
                NotificationConfigurationFilter::builder()
                    .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                    .build(),
            );
        }
        queues.push(builder.build()?);
    }
    clients
        .s3()
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(NotificationConfiguration::builder().set_queue_configurations(Some(queues)).build())
        .send()
        .await
        .map_err(|e| anyhow!("{}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}
