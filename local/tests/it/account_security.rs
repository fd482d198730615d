//! The attacks the auth hardening answers, tried as a client would against
//! the emulator: pre-registration takeover, password guessing (serial, from
//! one network, for unknown addresses), stolen tokens after a password
//! change, and the account's own way out.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::common::{PASSWORD, TestApp, assert_problem, unique_email};
use imaging::testing::png;
use local::Options;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MALLORY_PASSWORD: &str = "mallory chose this one";

#[tokio::test]
async fn registering_the_victims_address_first_does_not_take_the_account_over() {
    let app = TestApp::spawn().await;
    let victim = unique_email();
    assert_eq!(app.register(&victim, PASSWORD).await.status(), StatusCode::CREATED);
    let victims_code = app.code_for(&victim).await;
    // Mallory registers the same address with her password a minute later;
    // the code of her registration is mailed to the victim.
    app.forget_sends(&victim).await;
    assert_eq!(app.register(&victim, MALLORY_PASSWORD).await.status(), StatusCode::CREATED);
    let mallorys_code = app.code_for(&victim).await;

    // The victim types the newest code with her own password: refused, nothing activated.
    assert_problem(app.verify(&victim, &mallorys_code, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code").await;
    assert_problem(app.login(&victim, MALLORY_PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    // Mallory, who never sees a code, guesses with her password: nothing.
    assert_problem(app.verify(&victim, &victims_code, MALLORY_PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code")
        .await;
    // The victim's own code verifies her own password, and only hers.
    assert_eq!(app.verify(&victim, &victims_code, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login(&victim, PASSWORD).await.status(), StatusCode::OK);
    assert_problem(app.login(&victim, MALLORY_PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert_problem(
        app.verify(&victim, &mallorys_code, MALLORY_PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
}

#[tokio::test]
async fn strangers_cannot_burn_a_pending_code() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_for(&email).await;
    for guess in 0..8 {
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + guess) % 1_000_000);
        assert_problem(app.verify(&email, &wrong, "not her password").await, StatusCode::BAD_REQUEST, "invalid-code")
            .await;
    }
    assert_eq!(app.verify(&email, &code, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_lock_known_and_unknown_accounts_alike_and_the_right_password_waits_too() {
    let app = TestApp::spawn().await;
    let known = unique_email();
    app.signed_up_user(&known).await;
    let mut locked = Vec::new();
    for email in [known.clone(), unique_email()] {
        for _ in 0..6 {
            let wrong = app.login(&email, "not the password").await;
            assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
        }
        let right = app.login(&email, PASSWORD).await;
        let retry_after: u64 = right.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
        locked.push(assert_problem(right, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await);
    }
    assert_eq!(locked[0], locked[1], "a lockout tells known from unknown addresses");
    // The lockout ends, and then the right password works.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.login(&known, PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stranger_who_fails_at_an_account_does_not_lock_its_owner_out() {
    let app = TestApp::spawn().await;
    let owner = unique_email();
    let token = app.signed_up_user(&owner).await;
    let stranger = client_from(3);
    let login = json!({"email": owner, "password": "not the password"});
    for _ in 0..6 {
        let wrong = stranger.post(app.url("/auth/login")).json(&login).send().await.unwrap();
        assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    }
    let right = json!({"email": owner, "password": PASSWORD});
    let locked = stranger.post(app.url("/auth/login")).json(&right).send().await.unwrap();
    assert_problem(locked, StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    // The owner, from their own network, signs in and changes the password.
    assert_eq!(app.login(&owner, PASSWORD).await.status(), StatusCode::OK);
    let change = json!({"current_password": PASSWORD, "new_password": "a new long password"});
    let changed = app.send_with_token(Method::POST, "/users/me/password", &token, change).await;
    assert_eq!(changed.status(), StatusCode::OK);
}

/// A client whose requests come from another loopback address: another
/// source, as API Gateway's `sourceIp` would tell.
fn client_from(last_octet: u8) -> reqwest::Client {
    let address = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet));
    reqwest::Client::builder().local_address(address).build().unwrap()
}

#[tokio::test]
async fn one_network_has_a_budget_shared_by_register_code_verify_and_reset() {
    let app = TestApp::spawn().await;
    let other = client_from(2);
    let mut statuses = Vec::new();
    for i in 0..31 {
        let path = ["/auth/password/forgot", "/auth/register", "/auth/code", "/auth/verify"][i % 4];
        let email = unique_email();
        let body = match path {
            "/auth/password/forgot" => json!({"email": email}),
            "/auth/register" => json!({"name": "Eve", "email": email, "password": PASSWORD}),
            "/auth/code" => json!({"email": email, "password": PASSWORD}),
            _ => json!({"email": email, "password": PASSWORD, "code": "123456"}),
        };
        let response = other.post(app.url(path)).json(&body).send().await.unwrap();
        let status = response.status();
        if status == StatusCode::BAD_REQUEST {
            assert_problem(response, status, "invalid-code").await;
        }
        statuses.push(status);
    }
    assert!(statuses.iter().all(|s| s.is_success() || *s == StatusCode::BAD_REQUEST), "{statuses:?}");
    let over = other.post(app.url("/auth/password/forgot")).json(&json!({"email": unique_email()})).send().await;
    assert_problem(over.unwrap(), StatusCode::TOO_MANY_REQUESTS, "too-many-attempts").await;
    // Another network is not affected.
    let here = app.post_json("/auth/password/forgot", json!({"email": unique_email()})).await;
    assert_eq!(here.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_password_reset_revokes_every_token_in_every_function() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;
    app.forget_sends(&email).await;
    let forgot = app.post_json("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let code = app.code_for(&email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let reset = |code: String| json!({"email": email, "code": code, "new_password": "a brand new secret"});
    assert_problem(app.post_json("/auth/password/reset", reset(wrong)).await, StatusCode::BAD_REQUEST, "invalid-code")
        .await;
    assert_eq!(app.post_json("/auth/password/reset", reset(code.clone())).await.status(), StatusCode::OK);

    for path in ["/users/me", "/jobs"] {
        let refused =
            assert_problem(app.get_with_token(path, &token).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(refused["detail"].as_str().unwrap().contains("revoked"), "{refused}");
    }
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert_eq!(app.login(&email, "a brand new secret").await.status(), StatusCode::OK);
    let mails = app.drain_emails(Duration::from_secs(5)).await;
    assert!(mails.iter().any(|m| m.to.as_str() == email && m.template() == "password_changed"), "{mails:?}");
    assert_problem(app.post_json("/auth/password/reset", reset(code)).await, StatusCode::BAD_REQUEST, "invalid-code")
        .await;
}

#[tokio::test]
async fn a_reset_code_works_once_even_when_sent_twice_at_once() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up_user(&email).await;
    app.forget_sends(&email).await;
    assert_eq!(app.post_json("/auth/password/forgot", json!({"email": email})).await.status(), StatusCode::ACCEPTED);
    let code = app.code_for(&email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let reset = |code: &str, password: &str| json!({"email": email, "code": code, "new_password": password});
    let (first, second, guess) = tokio::join!(
        app.post_json("/auth/password/reset", reset(&code, "the first new secret")),
        app.post_json("/auth/password/reset", reset(&code, "the second new secret")),
        app.post_json("/auth/password/reset", reset(&wrong, "a guessed new secret")),
    );
    let statuses = [first.status(), second.status(), guess.status()];
    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(accepted, 1, "{statuses:?}");
    assert_problem(
        app.post_json("/auth/password/reset", reset(&code, "a third new secret")).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
}

#[tokio::test]
async fn forgot_answers_known_and_unknown_addresses_alike() {
    let app = TestApp::spawn().await;
    let known = unique_email();
    app.signed_up_user(&known).await;
    app.forget_sends(&known).await;
    let a = app.post_json("/auth/password/forgot", json!({"email": known})).await;
    let b = app.post_json("/auth/password/forgot", json!({"email": unique_email()})).await;
    assert_eq!((a.status(), a.text().await.unwrap()), (b.status(), b.text().await.unwrap()));
}

#[tokio::test]
async fn changing_the_password_and_signing_out_everywhere_revoke_older_tokens() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;
    let change = |current: &str| json!({"current_password": current, "new_password": "a brand new secret"});
    let wrong = app.send_with_token(Method::POST, "/users/me/password", &token, change("not it")).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let changed = app.send_with_token(Method::POST, "/users/me/password", &token, change(PASSWORD)).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let fresh: Value = changed.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get_with_token("/jobs", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_with_token("/jobs", &fresh).await.status(), StatusCode::OK);

    let another = app.login(&email, "a brand new secret").await.json::<Value>().await.unwrap();
    let out = app.send_with_token(Method::POST, "/users/me/sign-out-everywhere", &fresh, Value::Null).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for stale in [fresh.as_str(), another["access_token"].as_str().unwrap()] {
        assert_eq!(app.get_with_token("/users/me", stale).await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn deleting_the_account_removes_every_job_image_and_result() {
    let app = TestApp::spawn_with(Options { run_ocr_worker: true, ..Options::for_test() }).await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;
    let other = app.signed_up_user(&unique_email()).await;
    let owner =
        app.get_with_token("/users/me", &token).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let mut jobs = Vec::new();
    for i in 0..3 {
        // With idempotency keys, which name the account's jobs.
        let upload = app.http.post(app.url("/ocr")).bearer_auth(&token).header("content-type", "image/png");
        let upload = upload.header("idempotency-key", format!("upload-{i}-of-the-deleted-account"));
        let body: Value = upload.body(png(30, 20)).send().await.unwrap().json().await.unwrap();
        jobs.push(body["job_id"].as_str().unwrap().to_owned());
    }
    app.upload_raw(&other, "image/png", png(30, 20)).await;
    for job in &jobs {
        app.finished_job(&token, job).await;
    }
    // A presigned job whose image never came.
    let presigned =
        app.send_with_token(Method::POST, "/uploads", &token, json!({"content_type": "image/png", "bytes": 100})).await;
    assert_eq!(presigned.status(), StatusCode::CREATED);

    let wrong = app.send_with_token(Method::DELETE, "/users/me", &token, json!({"password": "not it"})).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let deleted = app.send_with_token(Method::DELETE, "/users/me", &token, json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let jobs_table = app.system.stack.reference("JobsTable").unwrap().to_owned();
    let items = app.system.clients.dynamodb().scan().table_name(jobs_table).send().await.unwrap().items.unwrap();
    assert!(items.iter().all(|i| i["pk"].as_s().unwrap() != &owner), "a job of the deleted account is left");
    let keys_left = items.iter().filter(|i| i["pk"].as_s().unwrap().contains(&owner)).count();
    assert_eq!(keys_left, 0, "idempotency keys of the deleted account are left");
    let jobs_left = items.iter().filter(|i| !i["pk"].as_s().unwrap().starts_with("PAGES#")).count();
    assert_eq!(jobs_left, 1, "the other account's job must stay (and its page count, beside it)");
    let bucket = app.system.stack.reference("UploadsBucket").unwrap().to_owned();
    let objects = app.system.clients.s3().list_objects_v2().bucket(bucket).send().await.unwrap();
    let keys: Vec<_> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.iter().all(|k| !k.contains(&owner) && !jobs.iter().any(|j| k.contains(j.as_str()))), "{keys:?}");
    assert_eq!(app.get_with_token("/users/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_with_token("/jobs", &token).await.status(), StatusCode::UNAUTHORIZED);
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

#[tokio::test]
async fn with_the_email_queue_gone_nothing_is_half_written() {
    let app = TestApp::spawn().await;
    let known = unique_email();
    app.signed_up_user(&known).await;
    let waiting = unique_email();
    app.register(&waiting, PASSWORD).await;
    let code = app.code_for(&waiting).await;
    app.forget_sends(&known).await;
    app.forget_sends(&waiting).await;
    let table = app.system.stack.reference("UsersTable").unwrap().to_owned();
    let snapshot = || async {
        let items = app.system.clients.dynamodb().scan().table_name(&table).send().await.unwrap().items.unwrap();
        let mut docs: Vec<(String, String)> = items
            .iter()
            .filter(|i| !i["pk"].as_s().unwrap().starts_with("FAILS#"))
            .map(|i| {
                let doc = i.get("doc").and_then(|d| d.as_s().ok()).cloned();
                (i["pk"].as_s().unwrap().clone(), doc.unwrap_or_else(|| i["version"].as_n().unwrap().clone()))
            })
            .collect();
        docs.sort();
        docs
    };
    let before = snapshot().await;
    let queue = app.system.stack.reference("EmailQueue").unwrap().to_owned();
    app.system.clients.sqs().delete_queue().queue_url(queue).send().await.unwrap();

    let new = unique_email();
    let attempts = [
        app.register(&new, PASSWORD).await,
        app.register(&known, PASSWORD).await,
        app.post_json("/auth/code", json!({"email": waiting, "password": PASSWORD})).await,
        app.post_json("/auth/password/forgot", json!({"email": known})).await,
        app.post_json("/auth/password/forgot", json!({"email": new})).await,
    ];
    for response in attempts {
        assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    }
    let after: Vec<_> = snapshot()
        .await
        .into_iter()
        .filter(|(_, doc)| !["{\"sent_at\":[]}", "{\"entries\":[]}", "{\"code\":null}"].contains(&doc.as_str()))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(_, doc)| !["{\"sent_at\":[]}", "{\"entries\":[]}", "{\"code\":null}"].contains(&doc.as_str()))
        .collect();
    assert_eq!(after, before, "a request whose e-mail could not be queued changed the table");
    // The waiting registration's first code still works.
    assert_eq!(app.verify(&waiting, &code, PASSWORD).await.status(), StatusCode::OK);
}
