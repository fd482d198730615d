//! The console mail catcher: prints every e-mail the emulator's SES sent,
//! readably, so that a local user can read their one-time code.

use std::collections::HashSet;

use tokio::sync::watch;

use crate::sent_mail::{self, SentEmail};

/// The body as text: tags dropped, entities of the escaped kind undone.
fn plain(body: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in body.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                let name = tag.trim_start_matches('/').split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                if matches!(name.as_str(), "p" | "br" | "pre" | "div" | "title") {
                    out.push('\n');
                }
            }
            c if in_tag => tag.push(c),
            c => out.push(c),
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("\n")
}

pub fn render(mail: &SentEmail) -> String {
    let mut out = format!("\n┌── e-mail sent to {} · {}\n", mail.to.join(", "), mail.subject);
    for line in plain(&mail.body).lines() {
        out.push_str(&format!("│ {line}\n"));
    }
    out.push_str("└──\n");
    out
}

/// Polls the emulator's sent mail and prints what is new, until `stop`.
pub async fn print_sent_mail(endpoint: String, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::new();
    let mut seen = HashSet::new();
    loop {
        match sent_mail::fetch(&http, &endpoint).await {
            Ok(mail) => {
                for message in mail {
                    if seen.insert(message.id.clone()) {
                        println!("{}", render(&message));
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read sent mail"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_print_as_text() {
        let mail = SentEmail {
            id: "1".into(),
            to: vec!["a@b.co".into()],
            subject: "Your verification code: 012345".into(),
            body: "<html><head><title>T</title></head><body><p>Hello &lt;Ada&gt;,</p><p>code <strong>012345</strong></p></body></html>".into(),
        };
        let shown = render(&mail);
        assert!(shown.contains("│ Hello <Ada>,"), "{shown}");
        assert!(shown.contains("│ code 012345"), "{shown}");
    }
}
