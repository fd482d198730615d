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
/// Mail the emulator sent before (an earlier run against the same moto, or
/// everything LocalStack ever sent) is not shown again.
pub async fn print_sent_mail(endpoint: String, mut stop: watch::Receiver<bool>) {
    let http = reqwest::Client::new();
    let mut seen: Option<HashSet<String>> = None;
    loop {
        match sent_mail::fetch(&http, &endpoint).await {
            Ok(mail) => match seen.as_mut() {
                None => seen = Some(mail.into_iter().map(|m| m.id).collect()),
                Some(seen) => {
                    for message in new_mail(seen, mail) {
                        println!("{}", render(&message));
                    }
                }
            },
            Err(e) => tracing::debug!(error = %e, "could not read sent mail"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
    }
}

/// The messages not seen before, now marked seen.
fn new_mail(seen: &mut HashSet<String>, mail: Vec<SentEmail>) -> Vec<SentEmail> {
    mail.into_iter().filter(|m| seen.insert(m.id.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mail_sent_after_the_start_is_new() {
        let mail = |id: &str| SentEmail { id: id.into(), to: vec![], subject: String::new(), body: String::new() };
        let mut seen: HashSet<String> = [mail("old")].into_iter().map(|m| m.id).collect();
        let fresh = new_mail(&mut seen, vec![mail("old"), mail("new")]);
        assert_eq!(fresh.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["new"]);
        assert!(new_mail(&mut seen, vec![mail("old"), mail("new")]).is_empty());
    }

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
