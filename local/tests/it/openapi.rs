//! The OpenAPI description (`web/openapi.json`) against the code: every
//! route of the template is described and served, every description is a
//! route, and the checker that holds every test's responses to it can fail.
//! (`./dev test` also validates the document against the OpenAPI 3.1
//! schema with openapi-spec-validator.)

use std::collections::BTreeSet;

use crate::common::TestApp;
use local::contract::{Contract, Operation};
use local::template::Template;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[test]
fn the_description_is_openapi_3_1_and_every_response_schema_compiles() {
    let contract = Contract::served();
    assert_eq!(contract.document()["openapi"], "3.1.0");
    let compiled = contract.compile_all().expect("every schema compiles and every $ref resolves");
    assert!(compiled >= 40, "only {compiled} response schemas");
}

#[test]
fn every_route_of_the_template_is_described_and_every_description_is_a_route() {
    let template = Template::load(&local::default_template_path()).unwrap();
    let routes: BTreeSet<Operation> = template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .flat_map(|(id, _)| template.http_routes(&id))
        .map(|(method, path)| Operation { method, path })
        .collect();
    let described: BTreeSet<Operation> = Contract::served().operations().into_iter().collect();
    let undescribed: Vec<_> = routes.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routes).collect();
    assert!(undescribed.is_empty(), "routes in template.yaml without a description: {undescribed:?}");
    assert!(unrouted.is_empty(), "descriptions without a route in template.yaml: {unrouted:?}");
    assert!(routes.len() >= 18, "{routes:?}");
}

#[tokio::test]
async fn every_described_operation_is_served_and_answers_as_described() {
    let app = TestApp::spawn().await;
    for Operation { method, path } in Contract::served().operations() {
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let response = app.http.request(method.parse().unwrap(), app.url(&path)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {body}");
        assert!(!body.contains("no such route"), "{method} {path} is not served: {body}");
    }
    // Dropping the app fails the test if any of those answers broke the
    // description (unauthenticated calls must be described 401s, ...).
}

#[tokio::test]
async fn the_description_is_served_at_openapi_json() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(&served, Contract::served().document());
}

fn tiny_contract() -> Contract {
    let document = json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/things/{id}": {"get": {"responses": {
            "200": {"description": "a thing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
            "204": {"description": "nothing"},
            "404": {"$ref": "#/components/responses/NotFound"}
        }}}},
        "components": {
            "responses": {"NotFound": {"description": "no", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "schemas": {
                "Thing": {"type": "object", "required": ["id", "at"], "additionalProperties": false,
                          "properties": {"id": {"type": "string", "format": "uuid"}, "at": {"type": "string", "format": "date-time"}}},
                "Problem": {"type": "object", "required": ["type", "status"], "properties": {"type": {"type": "string"}, "status": {"type": "integer"}}}
            }
        }
    });
    Contract::new(&document.to_string()).unwrap()
}

#[test]
fn the_checker_finds_every_kind_of_departure_from_the_description() {
    let contract = tiny_contract();
    let get = reqwest::Method::GET;
    let check = |path: &str, status: u16, content_type: Option<&str>, body: &str| {
        contract.check(&get, path, status, content_type, body.as_bytes())
    };
    let thing = r#"{"id": "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b", "at": "2026-11-24T05:00:00Z"}"#;
    let json = Some("application/json");
    let problem = Some("application/problem+json");
    assert_eq!(check("/things/1", 200, json, thing), Vec::<String>::new());
    assert_eq!(check("/things/1", 204, None, ""), Vec::<String>::new());
    assert_eq!(
        check("/things/1", 404, problem, r#"{"type": "/problems/not-found", "status": 404}"#),
        Vec::<String>::new()
    );
    assert_eq!(
        check("/nowhere", 404, problem, r#"{"type": "/problems/not-found", "status": 404}"#),
        Vec::<String>::new()
    );

    let departures = [
        ("an undescribed status", check("/things/1", 500, problem, r#"{"type": "x", "status": 500}"#)),
        ("an undescribed content type", check("/things/1", 200, Some("text/plain"), "hi")),
        ("a missing field", check("/things/1", 200, json, r#"{"id": "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"}"#)),
        ("an extra field", check("/things/1", 200, json, &thing.replace('}', r#", "more": 1}"#))),
        ("a bad format", check("/things/1", 200, json, &thing.replace("2026-11-24T05:00:00Z", "yesterday"))),
        ("not JSON", check("/things/1", 200, json, "{")),
        ("a body where none is described", check("/things/1", 204, json, "{}")),
        ("a problem that is not one", check("/things/1", 404, problem, r#"{"type": 1}"#)),
        ("an unknown route that answers JSON", check("/nowhere", 404, json, "{}")),
        ("an undescribed method", contract.check(&reqwest::Method::POST, "/things/1", 200, json, thing.as_bytes())),
    ];
    for (what, violations) in departures {
        assert!(!violations.is_empty(), "{what} was not caught");
    }
}
