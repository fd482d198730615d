//! What the emulator's SES actually sent, from moto (`/moto-api/data.json`)
//! or LocalStack (`/_aws/ses`): the one helper the console and the tests use.

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub id: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The HTML part when there is one (moto keeps only that), else text.
    pub body: String,
}

fn string(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn addresses(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)).collect()
}

fn from_moto(data: &Value) -> Option<Vec<SentEmail>> {
    let messages = data.pointer("/ses/Message")?.as_array()?;
    Some(
        messages
            .iter()
            .map(|m| SentEmail {
                id: string(m, "/id"),
                to: addresses(m.pointer("/destinations/ToAddresses")),
                subject: string(m, "/subject"),
                body: string(m, "/body"),
            })
            .collect(),
    )
}

fn from_localstack(data: &Value) -> Option<Vec<SentEmail>> {
    let messages = data.get("messages")?.as_array()?;
    Some(
        messages
            .iter()
            .map(|m| {
                let html = string(m, "/Body/html_part");
                SentEmail {
                    id: string(m, "/Id"),
                    to: addresses(m.pointer("/Destination/ToAddresses")),
                    subject: string(m, "/Subject"),
                    body: if html.is_empty() { string(m, "/Body/text_part") } else { html },
                }
            })
            .collect(),
    )
}

/// Every e-mail the emulator at `endpoint` has sent, oldest first.
pub async fn fetch(http: &reqwest::Client, endpoint: &str) -> Result<Vec<SentEmail>> {
    let endpoint = endpoint.trim_end_matches('/');
    if let Ok(response) = http.get(format!("{endpoint}/_aws/ses")).send().await
        && response.status().is_success()
        && let Some(mail) = response.json::<Value>().await.ok().as_ref().and_then(from_localstack)
    {
        return Ok(mail);
    }
    let data: Value = http
        .get(format!("{endpoint}/moto-api/data.json"))
        .send()
        .await
        .context("asking the emulator for sent mail")?
        .error_for_status()
        .context("asking the emulator for sent mail")?
        .json()
        .await
        .context("reading the emulator's sent mail")?;
    Ok(from_moto(&data).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_emulators() {
        let moto = json!({"ses": {"Message": [{"id": "m1", "destinations": {"ToAddresses": ["a@b.co"]}, "source": "s@x.test", "subject": "Hi", "body": "<p>h</p>"}]}});
        let localstack = json!({"messages": [{"Id": "l1", "Destination": {"ToAddresses": ["a@b.co"]}, "Source": "s@x.test", "Subject": "Hi", "Body": {"text_part": "t", "html_part": null}}]});
        assert_eq!(
            from_moto(&moto).unwrap()[0],
            SentEmail { id: "m1".into(), to: vec!["a@b.co".into()], subject: "Hi".into(), body: "<p>h</p>".into() }
        );
        assert_eq!(from_localstack(&localstack).unwrap()[0].body, "t");
        assert!(from_moto(&json!({})).is_none());
    }
}
