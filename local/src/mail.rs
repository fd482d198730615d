//! The console mail catcher: prints every e-mail readably, so that a local
//! user can read their one-time code.

use shared::email::{EmailJob, EmailMessage};

pub fn render(job: &EmailJob) -> String {
    let lines: Vec<String> = match &job.message {
        EmailMessage::VerifyCode { name, code, expires_in_minutes } => vec![
            format!("Hello {name},"),
            format!("your verification code is {code} (valid for {expires_in_minutes} minutes)."),
        ],
        EmailMessage::OcrDone { job_id, excerpt, result_path } => vec![
            format!("the text of job {job_id} is ready:"),
            format!("  {}", excerpt.replace('\n', "\n│   ")),
            format!("Full result: GET {result_path}"),
        ],
        EmailMessage::OcrFailed { job_id, reason } => {
            vec![format!("job {job_id} failed: {reason}")]
        }
    };
    let mut out = format!("\n┌── e-mail to {} · {} · job {}\n", job.to, job.template(), job.id);
    for line in lines {
        out.push_str(&format!("│ {line}\n"));
    }
    out.push_str("└──\n");
    out
}

pub fn print(job: &EmailJob) {
    println!("{}", render(job));
}
