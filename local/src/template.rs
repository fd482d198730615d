//! Reads template.yaml and resolves the CloudFormation intrinsics the local
//! runner needs, so that local resources and settings come from the very
//! file that is deployed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde_norway::{Mapping, Value};

#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// What the local stack knows about one created resource.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// What `!Ref` yields (table name, queue URL, bucket name, ...).
    pub reference: String,
    /// What `!GetAtt Logical.Name` yields, by attribute name.
    pub attributes: HashMap<String, String>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("cannot parse {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let root: Value = serde_norway::from_str(text)?;
        if !root.get("Resources").is_some_and(Value::is_mapping) {
            bail!("the template has no Resources section");
        }
        Ok(Self { root })
    }

    /// `(logical id, properties)` of every resource of `kind`, in file order.
    pub fn resources_of_type(&self, kind: &str) -> Vec<(String, Mapping)> {
        let Some(resources) = self.root.get("Resources").and_then(Value::as_mapping) else {
            return vec![];
        };
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
            .filter_map(|(id, r)| {
                let props = r.get("Properties").and_then(Value::as_mapping).cloned().unwrap_or_default();
                Some((id.as_str()?.to_owned(), props))
            })
            .collect()
    }

    /// The template's `Conditions`, evaluated by the resolver's `!If`.
    pub fn conditions(&self) -> Option<&Mapping> {
        self.root.get("Conditions").and_then(Value::as_mapping)
    }

    pub fn resource(&self, logical_id: &str) -> Option<&Value> {
        self.root.get("Resources")?.get(logical_id)
    }

    /// Parameter defaults, overridden by `overrides`.
    pub fn parameters(&self, overrides: &HashMap<String, String>) -> HashMap<String, String> {
        let mut values = HashMap::new();
        if let Some(params) = self.root.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in params {
                let (Some(name), Some(default)) = (name.as_str(), spec.get("Default")) else {
                    continue;
                };
                if let Some(default) = scalar_string(default) {
                    values.insert(name.to_owned(), default);
                }
            }
        }
        values.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        values
    }

    /// A function's environment: Globals.Function.Environment.Variables
    /// overlaid with the function's own, unresolved.
    pub fn function_environment(&self, logical_id: &str) -> Result<BTreeMap<String, Value>> {
        let function = self.resource(logical_id).ok_or_else(|| anyhow!("template has no resource {logical_id}"))?;
        let mut env = BTreeMap::new();
        let globals = self.root.get("Globals").and_then(|g| g.get("Function"));
        for source in [globals, function.get("Properties")].into_iter().flatten() {
            if let Some(vars) = source.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping) {
                for (k, v) in vars {
                    if let Some(k) = k.as_str() {
                        env.insert(k.to_owned(), v.clone());
                    }
                }
            }
        }
        Ok(env)
    }

    /// A function's timeout (its own, else Globals.Function's, else
    /// Lambda's default of 3 s), for hosts that must keep to it.
    pub fn function_timeout(&self, logical_id: &str) -> std::time::Duration {
        let globals = self.root.get("Globals").and_then(|g| g.get("Function"));
        let own = self.resource(logical_id).and_then(|f| f.get("Properties"));
        let seconds = [own, globals].into_iter().flatten().find_map(|p| p.get("Timeout").and_then(Value::as_u64));
        std::time::Duration::from_secs(seconds.unwrap_or(3))
    }

    /// `(method, path)` of every HttpApi event of a function.
    pub fn http_routes(&self, logical_id: &str) -> Vec<(String, String)> {
        let Some(events) = self
            .resource(logical_id)
            .and_then(|f| f.get("Properties"))
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            return vec![];
        };
        events
            .values()
            .filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi"))
            .filter_map(|e| {
                let props = e.get("Properties")?;
                Some((props.get("Method")?.as_str()?.to_uppercase(), props.get("Path")?.as_str()?.to_owned()))
            })
            .collect()
    }

    /// The properties of a function's SQS event source.
    fn sqs_event_source(&self, logical_id: &str) -> Option<&Value> {
        let events = self.resource(logical_id).and_then(|f| f.get("Properties")).and_then(|p| p.get("Events"));
        let sqs = events
            .and_then(Value::as_mapping)
            .and_then(|events| events.values().find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS")));
        sqs.and_then(|e| e.get("Properties"))
    }

    /// The `BatchSize` of a function's SQS event source (Lambda's default
    /// of 10 if unset).
    pub fn sqs_batch_size(&self, logical_id: &str) -> i32 {
        let size = self.sqs_event_source(logical_id).and_then(|p| p.get("BatchSize")).and_then(Value::as_i64);
        size.map_or(10, |n| n.clamp(1, 10) as i32)
    }

    /// The `ScalingConfig.MaximumConcurrency` of a function's SQS event
    /// source, unresolved (`None`: Lambda scales up to the account's limit).
    pub fn sqs_maximum_concurrency(&self, logical_id: &str) -> Option<&Value> {
        self.sqs_event_source(logical_id).and_then(|p| p.get("ScalingConfig")).and_then(|c| c.get("MaximumConcurrency"))
    }
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves intrinsics against what the local stack has created.
pub struct Resolver<'a> {
    pub parameters: &'a HashMap<String, String>,
    pub pseudo: &'a HashMap<String, String>,
    pub resources: &'a HashMap<String, Physical>,
    pub conditions: Option<&'a Mapping>,
}

/// What `!Ref AWS::NoValue` resolves to: the property it stands for is
/// left out (see `Stack::function_env_vars`).
pub const NO_VALUE: Value = Value::Null;

impl Resolver<'_> {
    /// Resolves a value to a string (environment variables, names, ARNs).
    pub fn string(&self, value: &Value) -> Result<String> {
        match self.resolve(value)? {
            Value::String(s) => self.dynamic_references(&s),
            other => scalar_string(&other).ok_or_else(|| anyhow!("expected a scalar, found {other:?}")),
        }
    }

    /// Resolves every intrinsic inside `value`.
    pub fn resolve(&self, value: &Value) -> Result<Value> {
        match value {
            Value::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                self.intrinsic(name.trim_start_matches('!'), &tagged.value)
            }
            Value::Mapping(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().expect("one entry");
                match key.as_str() {
                    Some("Ref") => self.intrinsic("Ref", inner),
                    Some(k) if k.starts_with("Fn::") => self.intrinsic(&k[4..], inner),
                    _ => self.resolve_mapping(map),
                }
            }
            Value::Mapping(map) => self.resolve_mapping(map),
            Value::Sequence(items) => items.iter().map(|v| self.resolve(v)).collect::<Result<_>>().map(Value::Sequence),
            other => Ok(other.clone()),
        }
    }

    fn resolve_mapping(&self, map: &Mapping) -> Result<Value> {
        let mut out = Mapping::new();
        for (k, v) in map {
            out.insert(k.clone(), self.resolve(v)?);
        }
        Ok(Value::Mapping(out))
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Result<Value> {
        let pair =
            |what: &str| arg.as_sequence().filter(|p| p.len() == 2).ok_or_else(|| anyhow!("!{name} takes [{what}]"));
        let text = match name {
            "Split" => {
                let parts = pair("delimiter, string")?;
                let delimiter = parts[0].as_str().unwrap_or_default();
                let text = self.string(&parts[1])?;
                return Ok(Value::Sequence(text.split(delimiter).map(|p| Value::String(p.to_owned())).collect()));
            }
            "Select" => {
                let parts = pair("index, list")?;
                let index: usize = scalar_string(&parts[0])
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(|| anyhow!("!Select: the index must be a number"))?;
                let list = self.resolve(&parts[1])?;
                let list = list.as_sequence().ok_or_else(|| anyhow!("!Select: the second item must be a list"))?;
                return list.get(index).cloned().ok_or_else(|| anyhow!("!Select: no item {index}"));
            }
            "If" => {
                let parts = arg
                    .as_sequence()
                    .filter(|p| p.len() == 3)
                    .ok_or_else(|| anyhow!("!If takes [condition, if true, if false]"))?;
                let condition = parts[0].as_str().ok_or_else(|| anyhow!("!If: the condition must be a name"))?;
                let chosen = if self.condition(condition)? { &parts[1] } else { &parts[2] };
                return self.resolve(chosen);
            }
            "Ref" if arg.as_str() == Some("AWS::NoValue") => return Ok(NO_VALUE),
            "Ref" => self.reference(arg.as_str().ok_or_else(|| anyhow!("!Ref takes a name"))?)?,
            "GetAtt" => {
                let (logical, attribute) = match arg {
                    Value::String(s) => {
                        s.split_once('.').ok_or_else(|| anyhow!("!GetAtt {s}: expected Logical.Attribute"))?
                    }
                    Value::Sequence(parts) if parts.len() == 2 => {
                        (parts[0].as_str().unwrap_or_default(), parts[1].as_str().unwrap_or_default())
                    }
                    _ => bail!("!GetAtt takes Logical.Attribute"),
                };
                self.attribute(logical, attribute)?
            }
            "Sub" => match arg {
                Value::String(s) => self.substitute(s, &HashMap::new())?,
                Value::Sequence(parts) if parts.len() == 2 => {
                    let template = parts[0].as_str().ok_or_else(|| anyhow!("!Sub: the first item must be a string"))?;
                    let mut vars = HashMap::new();
                    for (k, v) in parts[1].as_mapping().into_iter().flatten() {
                        vars.insert(k.as_str().unwrap_or_default().to_owned(), self.string(v)?);
                    }
                    self.substitute(template, &vars)?
                }
                _ => bail!("!Sub takes a string or [string, map]"),
            },
            "Join" => {
                let parts = arg
                    .as_sequence()
                    .filter(|p| p.len() == 2)
                    .ok_or_else(|| anyhow!("!Join takes [delimiter, list]"))?;
                let delimiter = parts[0].as_str().unwrap_or_default();
                let items = self.resolve(&parts[1])?;
                let items = items.as_sequence().ok_or_else(|| anyhow!("!Join: the second item must be a list"))?;
                items.iter().map(|v| self.string(v)).collect::<Result<Vec<_>>>()?.join(delimiter)
            }
            other => bail!("the local runner does not support the intrinsic {other}"),
        };
        Ok(Value::String(text))
    }

    /// A named condition of the template's `Conditions`.
    fn condition(&self, name: &str) -> Result<bool> {
        let definition = self
            .conditions
            .and_then(|c| c.get(name))
            .ok_or_else(|| anyhow!("no condition {name} in the template's Conditions"))?;
        self.truth(definition).with_context(|| format!("condition {name}"))
    }

    /// Evaluates a condition function: `!Equals`, `!Not`, `!And`, `!Or`,
    /// `!Condition`.
    fn truth(&self, value: &Value) -> Result<bool> {
        let (function, arg) = match value {
            Value::Tagged(tagged) => (tagged.tag.to_string().trim_start_matches('!').to_owned(), &tagged.value),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, inner) = map.iter().next().expect("one entry");
                let key = key.as_str().unwrap_or_default();
                (key.strip_prefix("Fn::").unwrap_or(key).to_owned(), inner)
            }
            other => bail!("not a condition function: {other:?}"),
        };
        let items = || arg.as_sequence().ok_or_else(|| anyhow!("!{function} takes a list"));
        match function.as_str() {
            "Equals" => match items()?.as_slice() {
                [a, b] => Ok(self.string(a)? == self.string(b)?),
                _ => bail!("!Equals takes two values"),
            },
            "Not" => match items()?.as_slice() {
                [c] => Ok(!self.truth(c)?),
                _ => bail!("!Not takes one condition"),
            },
            "And" => items()?.iter().try_fold(true, |all, c| Ok(all && self.truth(c)?)),
            "Or" => items()?.iter().try_fold(false, |any, c| Ok(any || self.truth(c)?)),
            "Condition" => self.condition(arg.as_str().ok_or_else(|| anyhow!("!Condition takes a name"))?),
            other => bail!("the local runner does not support the condition function {other}"),
        }
    }

    fn reference(&self, name: &str) -> Result<String> {
        if let Some(value) = self.pseudo.get(name).or_else(|| self.parameters.get(name)) {
            return Ok(value.clone());
        }
        self.resources
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| anyhow!("!Ref {name}: no such parameter or locally created resource"))
    }

    fn attribute(&self, logical: &str, attribute: &str) -> Result<String> {
        self.resources
            .get(logical)
            .and_then(|p| p.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| anyhow!("!GetAtt {logical}.{attribute}: not known locally"))
    }

    fn substitute(&self, template: &str, vars: &HashMap<String, String>) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| anyhow!("!Sub: unclosed ${{ in {template:?}"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.get(name) {
                out.push_str(value);
            } else if let Some((logical, attribute)) = name.split_once('.').filter(|_| !name.starts_with("AWS::")) {
                out.push_str(&self.attribute(logical, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Refuses dynamic references: CloudFormation would paste the secret
    /// into the function's configuration, where anyone who may read it sees
    /// it. Functions read secrets at run time instead.
    fn dynamic_references(&self, text: &str) -> Result<String> {
        if text.contains("{{resolve:") {
            bail!("dynamic reference in {text:?}: read secrets at run time instead (see JWT_SECRET_ARN)");
        }
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_refs_getatts_subs_and_secrets() {
        let template = Template::parse(
            r#"
Parameters:
  Stage: { Type: String, Default: dev }
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: { "Fn::Not": [{ Condition: IsProd }] }
  Either: !Or [!Condition IsProd, !And [!Condition NotProd, !Equals [a, a]]]
Resources:
  Queue: { Type: AWS::SQS::Queue }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          URL: !Ref Queue
          ARN: !GetAtt Queue.Arn
          NAME: !Sub "app-${Stage}-${AWS::Region}-${Queue.QueueName}-${!Literal}"
          LONG: { "Fn::Join": ["/", [a, { Ref: Stage }]] }
          PICKED: !Join ["-", [x, !Select [1, !Split ["/", "a/b/c"]]]]
          SECRET: !Ref Secret
          PASTED: !Sub "{{resolve:secretsmanager:${Secret}:SecretString}}"
          PROD_ONLY: !If [IsProd, yes, !Ref AWS::NoValue]
          CHOSEN: { "Fn::If": [NotProd, !Sub "${Stage}-value", prod-value] }
          BOTH: !If [Either, either, neither]
Globals:
  Function:
    Environment:
      Variables:
        RUST_LOG: info
"#,
        )
        .unwrap();
        let parameters = template.parameters(&HashMap::new());
        let pseudo = HashMap::from([("AWS::Region".to_string(), "us-east-1".to_string())]);
        let resources = HashMap::from([
            (
                "Queue".to_string(),
                Physical {
                    reference: "http://q/url".into(),
                    attributes: HashMap::from([
                        ("Arn".to_string(), "arn:q".to_string()),
                        ("QueueName".to_string(), "q".to_string()),
                    ]),
                },
            ),
            ("Secret".to_string(), Physical { reference: "arn:secret".into(), ..Default::default() }),
        ]);
        let resolver = Resolver {
            parameters: &parameters,
            pseudo: &pseudo,
            resources: &resources,
            conditions: template.conditions(),
        };
        let env = template.function_environment("Fn").unwrap();
        let get = |k: &str| resolver.string(&env[k]).unwrap();
        assert_eq!(get("URL"), "http://q/url");
        assert_eq!(get("ARN"), "arn:q");
        assert_eq!(get("NAME"), "app-dev-us-east-1-q-${Literal}");
        assert_eq!(get("LONG"), "a/dev");
        assert_eq!(get("PICKED"), "x-b");
        assert_eq!(get("SECRET"), "arn:secret");
        let pasted = resolver.string(&env["PASTED"]).unwrap_err().to_string();
        assert!(pasted.contains("read secrets at run time"), "{pasted}");
        assert_eq!(get("RUST_LOG"), "info");
        assert_eq!(resolver.resolve(&env["PROD_ONLY"]).unwrap(), NO_VALUE);
        assert_eq!(get("CHOSEN"), "dev-value");
        assert_eq!(get("BOTH"), "either");
    }

    /// `sam local invoke` may set the endpoint only where the template
    /// declares it; deployed, the variable must not exist at all (an empty
    /// one makes the SDK log a warning at every cold start).
    #[test]
    fn the_endpoint_variable_exists_only_for_local_invocation() {
        let template = Template::load(&crate::default_template_path()).unwrap();
        let pseudo = HashMap::new();
        let resources = HashMap::new();
        let endpoint = |overrides: &[(&str, &str)]| {
            let overrides = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let parameters = template.parameters(&overrides);
            let resolver = Resolver {
                parameters: &parameters,
                pseudo: &pseudo,
                resources: &resources,
                conditions: template.conditions(),
            };
            resolver.resolve(&template.function_environment("AuthFunction").unwrap()["AWS_ENDPOINT_URL"]).unwrap()
        };
        assert_eq!(endpoint(&[]), NO_VALUE);
        assert_eq!(endpoint(&[("LocalEndpointUrl", "http://172.17.0.1:4566")]), Value::from("http://172.17.0.1:4566"));
    }

    #[test]
    fn workers_are_fed_as_their_event_sources_say() {
        let template = Template::load(&crate::default_template_path()).unwrap();
        assert_eq!(template.sqs_batch_size("OcrFunction"), 5);
        assert_eq!(template.sqs_batch_size("NotifyFunction"), 10);
        assert!(template.sqs_maximum_concurrency("OcrFunction").is_some());
        assert_eq!(template.sqs_maximum_concurrency("NotifyFunction"), Some(&Value::from(2)));
        assert_eq!(template.function_timeout("OcrFunction"), std::time::Duration::from_secs(60));
        assert_eq!(template.function_timeout("AuthFunction"), std::time::Duration::from_secs(10));
    }
}
