//! The auth API on the emulator, exercised as a client.

use std::time::Duration;

use crate::common::{PASSWORD, TestApp, assert_problem, unique_email};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn register_code_verify_login_me() {
    let app = TestApp::spawn().await;
    let email = unique_email();

    let registered = app.register(&email, PASSWORD).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let jobs = app.drain_emails(Duration::from_secs(10)).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].to.as_str(), email);
    assert_eq!(jobs[0].template(), "verify_code");
    let code = app.code_for_job(&jobs[0]);

    assert_eq!(app.verify(&email, &code, PASSWORD).await.status(), StatusCode::OK);

    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 3600);
    let token = login["access_token"].as_str().unwrap();

    let me = app.get_with_token("/users/me", token).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["name"], "Ada Lovelace");
    assert!(me["id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(me["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // The token carries the documented claims.
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sub"], me["id"]);
    assert_eq!(claims["email"], email);
    assert_eq!(claims["aud"], "serverless-ocr-api");
    assert_eq!(claims["iss"], format!("serverless-ocr-{}", "dev"));
    assert_eq!(claims["cv"], 1);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    // Single use.
    let again = app.verify(&email, &code, PASSWORD).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid-code").await;
}

impl TestApp {
    fn code_for_job(&self, job: &domain::email::EmailJob) -> String {
        let domain::email::EmailMessage::VerifyCode { code, .. } = &job.message else { panic!("not a code e-mail") };
        code.clone()
    }
}

#[tokio::test]
async fn registering_a_known_address_answers_exactly_like_a_new_one() {
    let app = TestApp::spawn().await;
    let known = unique_email();
    app.signed_up_user(&known).await;
    app.forget_sends(&known).await;

    let fresh = app.register(&unique_email(), PASSWORD).await;
    let repeat = app.register(&known, "a different password").await;
    assert_eq!(fresh.status(), repeat.status());
    assert_eq!(fresh.text().await.unwrap(), repeat.text().await.unwrap());

    // The owner is told someone tried (no code), and their password is untouched.
    let jobs = app.drain_emails(Duration::from_secs(2)).await;
    let to_owner: Vec<_> = jobs.iter().filter(|j| j.to.as_str() == known).map(|j| j.template()).collect();
    assert_eq!(to_owner, ["account_exists"]);
    assert_eq!(app.login(&known, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login(&known, "a different password").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_registrations_and_verifications_of_one_address_make_one_user() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let body = json!({"name": "Ada", "email": email, "password": PASSWORD});
    let attempts: Vec<_> =
        (0..5).map(|_| tokio::spawn(app.http.post(app.url("/auth/register")).json(&body).send())).collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap().unwrap().status());
    }
    // Every one is answered alike (or, having lost every race for the
    // counters, told to retry); one code goes out, the rest meet the
    // one-code-a-minute budget and send nothing.
    let expected = [StatusCode::CREATED, StatusCode::CONFLICT];
    assert!(statuses.iter().all(|s| expected.contains(s)), "{statuses:?}");
    let mails = app.drain_emails(Duration::from_secs(5)).await;
    let codes: Vec<String> = mails
        .iter()
        .filter(|m| m.to.as_str() == email)
        .filter_map(|m| match &m.message {
            domain::email::EmailMessage::VerifyCode { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 1, "{mails:?}");
    let code = codes[0].clone();
    let verify = json!({"email": email, "code": code, "password": PASSWORD});
    let verifications: Vec<_> =
        (0..5).map(|_| tokio::spawn(app.http.post(app.url("/auth/verify")).json(&verify).send())).collect();
    let mut verified = 0;
    for verification in verifications {
        verified += usize::from(verification.await.unwrap().unwrap().status() == StatusCode::OK);
    }
    assert_eq!(verified, 1, "one code verified more than once");
    let table = app.system.stack.reference("UsersTable").unwrap().to_owned();
    let items = app.system.clients.dynamodb().scan().table_name(table).send().await.unwrap().items.unwrap_or_default();
    let users = items.iter().filter(|i| i["pk"].as_s().unwrap().starts_with("USER#")).count();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn login_failures() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    // Right password, unverified address: the answer of a wrong password
    // (else registering an address, then logging in with that password,
    // would tell whether it has an account), which says what to do.
    let body = assert_problem(app.login(&email, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    assert!(body["detail"].as_str().unwrap().contains("/auth/verify"));

    // Wrong password and unknown address are indistinguishable.
    let wrong =
        assert_problem(app.login(&email, "not the password").await, StatusCode::UNAUTHORIZED, "invalid-credentials")
            .await;
    let unknown =
        assert_problem(app.login(&unique_email(), PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid-credentials")
            .await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn a_burned_an_expired_and_an_unknown_code_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let code = app.code_for(&email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(
            assert_problem(app.verify(&email, &wrong, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code").await,
        );
    }
    // Burned: the right code is refused now, exactly like anything else.
    answers
        .push(assert_problem(app.verify(&email, &code, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code").await);
    answers.push(
        assert_problem(app.verify(&unique_email(), &code, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code")
            .await,
    );
    // Expired.
    let other = unique_email();
    app.register(&other, PASSWORD).await;
    let other_code = app.code_for(&other).await;
    app.edit_record(&format!("PENDING#{other}"), |doc| {
        doc["entries"][0]["code"]["expires_at"] = json!("2020-01-01T00:00:00Z");
    })
    .await;
    answers.push(
        assert_problem(app.verify(&other, &other_code, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code").await,
    );
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]), "{answers:?}");
}

#[tokio::test]
async fn codes_over_the_budget_are_answered_alike_and_not_sent() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    app.code_for(&email).await;

    // A minute has not passed: the same answer as ever, and no mail, for a
    // known registration and for an address nobody used.
    let again = app.post_json("/auth/code", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let stranger = unique_email();
    for _ in 0..2 {
        let answer = app.post_json("/auth/code", json!({"email": stranger, "password": PASSWORD})).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    assert!(app.drain_emails(Duration::from_secs(2)).await.is_empty(), "a code over the budget went out");
}

/// A stranger asking for reset codes for someone's address, from other
/// networks, spends only their own networks' budgets: the owner's reset and
/// a new sign-up still go out. Strangers on many networks together stop
/// at the address's budget (20 an hour), which bounds the mail they cause.
#[tokio::test]
async fn a_stranger_cannot_block_someones_reset_or_sign_up() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.signed_up_user(&email).await;
    app.forget_sends(&email).await;
    app.drain_emails(Duration::from_millis(100)).await;
    // Other source addresses: loopback has them all (127.0.0.0/8).
    for network in 2..=4 {
        let stranger = reqwest::Client::builder().local_address(Some([127, 0, 0, network].into())).build().unwrap();
        for _ in 0..6 {
            let forgot = stranger.post(app.url("/auth/password/forgot")).json(&json!({"email": email})).send();
            assert_eq!(forgot.await.unwrap().status(), StatusCode::ACCEPTED);
        }
    }
    let strangers = app.drain_emails(Duration::from_secs(2)).await;
    assert!(strangers.len() <= 3, "{} reset mails for a stranger's requests", strangers.len());
    // The owner, from her own network: a reset code at once.
    let forgot = app.post_json("/auth/password/forgot", json!({"email": email})).await;
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    let mails = app.drain_emails(Duration::from_secs(5)).await;
    assert!(mails.iter().any(|m| m.template() == "password_reset_code"), "the owner's reset was blocked: {mails:?}");
}

#[tokio::test]
async fn resend_sends_a_new_code_that_works() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let first = app.code_for(&email).await;
    app.forget_sends(&email).await;
    let response = app.post_json("/auth/code", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let code = app.code_for(&email).await;
    assert_problem(app.verify(&email, &first, PASSWORD).await, StatusCode::BAD_REQUEST, "invalid-code").await;
    assert_eq!(app.verify(&email, &code, PASSWORD).await.status(), StatusCode::OK);
}

fn sign(claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let token = app.signed_up_user(&email).await;
    // The key as the functions read it from Secrets Manager.
    let secret_arn = app.env("AuthFunction", "JWT_SECRET_ARN");
    let stored = app.system.clients.secrets_manager().get_secret_value().secret_id(secret_arn).send().await;
    let secret = stored.unwrap().secret_string.unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };

    let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), payload);
    let mut bad_signature = token.clone();
    bad_signature.replace_range(token.len() - 4.., "AAAA");
    let cases = [
        ("alg none", none_alg),
        ("another algorithm", sign(&claims, secret.as_bytes(), Algorithm::HS512)),
        ("bad signature", bad_signature),
        ("another key", sign(&claims, b"some-other-secret-some-other-secret!", Algorithm::HS256)),
        ("expired", sign(&with("exp", json!(now - 60)), secret.as_bytes(), Algorithm::HS256)),
        ("wrong audience", sign(&with("aud", json!("someone-else")), secret.as_bytes(), Algorithm::HS256)),
        ("wrong issuer", sign(&with("iss", json!("someone-else")), secret.as_bytes(), Algorithm::HS256)),
        ("garbage", "not-a-token".to_owned()),
    ];
    for (case, forged) in cases {
        let response = app.get_with_token("/users/me", &forged).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A correctly signed token still works, and a missing header is refused.
    assert_eq!(app.get_with_token("/users/me", &token).await.status(), StatusCode::OK);
    let anonymous = app.http.get(app.url("/users/me")).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn every_class_of_bad_input_gets_a_clear_4xx_problem() {
    let app = TestApp::spawn().await;
    let post_raw = |path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = app.http.post(app.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    let json_ct = Some("application/json");
    // (path, content type, body, status, problem type)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        ("/auth/register", json_ct, b"{not json".to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        ("/auth/register", json_ct, b"".to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        ("/auth/register", json_ct, b"[]".to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"a@b.co"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":5,"password":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"","email":"a@b.co","password":"long enough pw"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"","password":"long enough pw"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"not-an-email","password":"long enough pw"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"a@b.co","password":"short"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"a@b.co","password":"password123"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/register",
            json_ct,
            br#"{"name":"A","email":"a@b.co","password":"long enough pw","admin":true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/verify",
            json_ct,
            br#"{"email":"a@b.co","code":"12345"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/verify",
            json_ct,
            br#"{"email":"a@b.co","code":123456}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/login",
            json_ct,
            br#"{"email":"a@b.co","password":""}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        ("/auth/code", json_ct, br#"{"email":null}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        ("/auth/code", json_ct, br#"{"email":"a@b.co"}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        ("/auth/password/forgot", json_ct, br#"{"email":"a@"}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid-body"),
        (
            "/auth/password/reset",
            json_ct,
            br#"{"email":"a@b.co","code":"123456","new_password":"password123"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "/auth/login",
            Some("text/plain"),
            br#"{"email":"a@b.co","password":"x"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "/auth/login",
            None,
            br#"{"email":"a@b.co","password":"x"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        ("/auth/register", json_ct, vec![b' '; 64 * 1024 + 1], StatusCode::PAYLOAD_TOO_LARGE, "body-too-large"),
    ];
    for (path, content_type, body, status, kind) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let response = post_raw(path, content_type, body).await.unwrap();
        assert_eq!(response.status(), status, "{path} {content_type:?} {shown}");
        let problem = assert_problem(response, status, kind).await;
        println!("{path} {shown} -> {}", problem["detail"]);
    }
    // Validation messages name the problem.
    let weak = app.register("a@b.co", "password123").await;
    let body = assert_problem(weak, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(body["detail"].as_str().unwrap().contains("too common"), "{body}");

    let wrong_method = app.http.get(app.url("/auth/login")).send().await.unwrap();
    assert_problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
    let unknown_route = app.http.get(app.url("/nowhere")).send().await.unwrap();
    assert_problem(unknown_route, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn every_route_in_template_yaml_is_served() {
    let app = TestApp::spawn().await;
    let routes = app.system.stack.template().http_routes("AuthFunction");
    assert_eq!(routes.len(), 14, "{routes:?}");
    for (method, path) in routes {
        let response = app.http.request(method.parse().unwrap(), app.url(&path)).send().await.unwrap();
        assert_ne!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
}

#[tokio::test]
async fn a_stalled_store_gets_a_503_within_seconds_instead_of_a_hang() {
    use aws_adapters::AwsClients;
    use platform::config::{AuthConfig, JwtConfig, JwtSecret};

    // A "service" that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let clients = AwsClients::with_endpoint(&endpoint).await;
    let config = AuthConfig {
        users_table: "users".into(),
        email_queue_url: format!("{endpoint}/000000000000/email"),
        jobs_table: "jobs".into(),
        uploads_bucket: "uploads".into(),
        jwt: JwtConfig {
            secret_id: "unused".into(),
            issuer: "i".into(),
            audience: "a".into(),
            lifetime: time::Duration::hours(1),
        },
    };
    let secret = JwtSecret::new("s".repeat(40)).unwrap();
    let router = auth::router(auth::AuthState::new(auth::auth_service(&config, &secret, &clients)));
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", api.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(api, router).await.unwrap() });

    let started = std::time::Instant::now();
    let request = reqwest::Client::new()
        .post(format!("{api_url}/auth/login"))
        .json(&json!({"email": "a@b.co", "password": "whatever"}))
        .send();
    let response = tokio::time::timeout(Duration::from_secs(30), request).await.expect("the request hung").unwrap();
    println!("answered after {:?}", started.elapsed());
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}
