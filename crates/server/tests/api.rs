//! The HTTP API over real HTTP, on SQLite and on PostgreSQL: authorization,
//! tenant isolation on every job endpoint, quotas, error bodies, limits,
//! the OpenAPI document and the metrics.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{databases, TestServer};

const HELLO: &str = "name: hello\ncommand: [echo, hi]\nresources: {cpus: 1, memory: 64Mi}\n";

async fn submit(s: &TestServer, token: &str, yaml: &str) -> (u16, Value) {
    s.call(Method::POST, "/v1/jobs", token, Some(json!({ "workload": yaml }))).await
}

#[tokio::test]
async fn tenants_never_see_each_others_jobs() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases("tenants_never_see_each_others_jobs", dir.path()).await {
        let s = TestServer::start(&db, vec![]).await;
        let alice = s.tenant_user("red", "alice", "member").await;
        let bob = s.tenant_user("blue", "bob", "member").await;
        let (status, job) = submit(&s, &alice, HELLO).await;
        assert_eq!(status, 201, "{db}: {job}");
        let id = job["id"].as_str().unwrap();
        assert_eq!(job["tenant"], "red");
        assert_eq!(job["state"], "queued");
        assert_eq!(job["needs"]["memory"], 64 << 20);

        // Every job endpoint, with the other tenant's token: not found, and nothing changes.
        for (method, path) in [
            (Method::GET, format!("/v1/jobs/{id}")),
            (Method::POST, format!("/v1/jobs/{id}/cancel")),
            (Method::GET, format!("/v1/jobs/{id}/logs")),
            (Method::GET, format!("/v1/jobs/{id}/wait?timeout=0")),
        ] {
            let (status, body) = s.call(method.clone(), &path, &bob, None).await;
            assert_eq!(status, 404, "{db}: {method} {path} as bob: {body}");
            assert_eq!(body["error"]["code"], "not_found");
        }
        let (_, listed) = s.call(Method::GET, "/v1/jobs", &bob, None).await;
        assert_eq!(listed, json!([]), "{db}: bob lists none of red's jobs");
        let (_, queue) = s.call(Method::GET, "/v1/queue", &bob, None).await;
        assert_eq!(queue, json!([]));

        // The owner still sees it, uncancelled, and why it waits.
        let (status, got) = s.call(Method::GET, &format!("/v1/jobs/{id}"), &alice, None).await;
        assert_eq!(status, 200);
        assert_eq!(got["state"], "queued");
        assert_eq!(got["cancel_requested"], false);
        let (_, listed) = s.call(Method::GET, "/v1/jobs", &alice, None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let (_, queue) = s.call(Method::GET, "/v1/queue", &alice, None).await;
        assert_eq!(queue[0]["id"], id);

        // Logs of a job that has not started: a clear conflict, not a hang.
        let (status, body) = s.call(Method::GET, &format!("/v1/jobs/{id}/logs"), &alice, None).await;
        assert_eq!(status, 409, "{body}");

        // The owner cancels it; wait returns it ended.
        let (status, body) = s.call(Method::POST, &format!("/v1/jobs/{id}/cancel"), &alice, None).await;
        assert_eq!((status, &body["state"]), (200, &json!("cancelled")), "{body}");
        let (_, waited) = s.call(Method::GET, &format!("/v1/jobs/{id}/wait"), &alice, None).await;
        assert_eq!(waited["state"], "cancelled");
        let (status, _) = s.call(Method::POST, &format!("/v1/jobs/{id}/cancel"), &alice, None).await;
        assert_eq!(status, 409, "cancelling an ended job is a conflict");
        s.stop().await;
    }
}

#[tokio::test]
async fn tokens_and_roles_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases("tokens_and_roles_are_enforced", dir.path()).await {
        let s = TestServer::start(&db, vec![]).await;
        let viewer = s.tenant_user("red", "vera", "viewer").await;
        let member = s.tenant_user("red", "mo", "member").await;

        let (status, body) = s.call(Method::GET, "/v1/jobs", "not-a-token", None).await;
        assert_eq!(status, 401, "{body}");
        let resp = s.http.get(s.url("/v1/jobs")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "no token at all");

        let (status, body) = submit(&s, &viewer, HELLO).await;
        assert_eq!(status, 403, "a viewer cannot submit: {body}");
        let (status, _) = s.call(Method::GET, "/v1/jobs", &viewer, None).await;
        assert_eq!(status, 200, "a viewer can list");
        for (method, path) in
            [(Method::GET, "/v1/admin/tenants"), (Method::GET, "/v1/admin/users"), (Method::GET, "/v1/admin/tokens")]
        {
            let (status, _) = s.call(method, path, &member, None).await;
            assert_eq!(status, 403, "{path} is for admins");
        }

        // Tokens are stored hashed and can be revoked.
        let (_, tokens) = s.call(Method::GET, "/v1/admin/tokens", &s.admin, None).await;
        let listed = tokens.to_string();
        assert!(!listed.contains(&member) && !listed.contains("hash"), "{listed}");
        let id = member.split('_').nth(1).unwrap();
        let (status, _) = s.call(Method::DELETE, &format!("/v1/admin/tokens/{id}"), &s.admin, None).await;
        assert_eq!(status, 204);
        let (status, _) = s.call(Method::GET, "/v1/jobs", &member, None).await;
        assert_eq!(status, 401, "a revoked token is refused");
        s.stop().await;
    }
}

#[tokio::test]
async fn bad_requests_get_one_clear_json_error() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases("bad_requests_get_one_clear_json_error", dir.path()).await {
        let s = TestServer::start(&db, vec![]).await;
        let mo = s.tenant_user("red", "mo", "member").await;

        // A workload error is located in the file.
        let (status, body) = submit(&s, &mo, "name: x\ncommand: [true]\nresources:\n  memory: lots\n").await;
        assert_eq!(status, 422, "{body}");
        let e = &body["error"];
        assert_eq!((e["line"].as_u64(), e["field"].as_str()), (Some(4), Some("workload.resources.memory")), "{body}");
        assert!(e["expected"].as_str().unwrap().contains("quantity"), "{body}");

        // A request field of the wrong type, a missing one, an unknown one.
        let (status, body) =
            s.call(Method::POST, "/v1/jobs", &mo, Some(json!({"workload": HELLO, "priority": "high"}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("body.priority")), "{body}");
        let (status, body) = s.call(Method::POST, "/v1/jobs", &mo, Some(json!({"priority": 1}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("body.workload")), "{body}");
        let (status, body) = s.call(Method::POST, "/v1/jobs", &mo, Some(json!({"workload": HELLO, "prio": 1}))).await;
        assert_eq!(status, 422, "{body}");
        let (status, body) =
            s.call(Method::POST, "/v1/jobs", &mo, Some(json!({"workload": HELLO, "priority": 5000}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("body.priority")), "{body}");
        let (status, body) = s.call(Method::GET, "/v1/jobs?state=sleeping", &mo, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid")), "{body}");

        // Not JSON; too large; no such endpoint.
        let resp = s
            .http
            .post(s.url("/v1/jobs"))
            .bearer_auth(&mo)
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "invalid");
        let big = json!({"workload": format!("name: big\ncommand: [true]\n# {}\n", "x".repeat(100_000))});
        let (status, body) = s.call(Method::POST, "/v1/jobs", &mo, Some(big)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
        let (status, body) = s.call(Method::GET, "/v1/nothing", &mo, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));

        // Admin input: a bad name, a duplicate, an unknown tenant.
        let (status, body) =
            s.call(Method::POST, "/v1/admin/tenants", &s.admin, Some(json!({"name": "Bad Name"}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("body.name")));
        let (status, _) = s.call(Method::POST, "/v1/admin/tenants", &s.admin, Some(json!({"name": "red"}))).await;
        assert_eq!(status, 409);
        let user = json!({"name": "zed", "tenant": "nope", "role": "member"});
        let (status, _) = s.call(Method::POST, "/v1/admin/users", &s.admin, Some(user)).await;
        assert_eq!(status, 404);
        let user = json!({"name": "zed", "tenant": "red", "role": "king"});
        let (status, body) = s.call(Method::POST, "/v1/admin/users", &s.admin, Some(user)).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("body.role")), "{body}");
        s.stop().await;
    }
}

#[tokio::test]
async fn quotas_refuse_what_could_never_run_and_show_why_jobs_wait() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases("quotas_refuse_what_could_never_run_and_show_why_jobs_wait", dir.path()).await {
        let s = TestServer::start(&db, vec![]).await;
        let mo = s.tenant_user("red", "mo", "member").await;
        let quota = json!({"cpus": 2.0, "memory": 1073741824u64, "gpus": 0, "running": 3});
        let (status, tenant) = s.call(Method::PUT, "/v1/admin/tenants/red/quota", &s.admin, Some(quota)).await;
        assert_eq!(status, 200, "{tenant}");
        assert_eq!(tenant["quota"]["cpus"], 2.0);
        let (status, body) = s.call(Method::PUT, "/v1/admin/tenants/red/quota", &mo, Some(json!({}))).await;
        assert_eq!(status, 403, "only admins set quotas: {body}");

        let (status, body) = submit(&s, &mo, "name: wide\ncommand: [true]\nresources: {cpus: 4}\n").await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], "workload.resources.cpus");
        assert!(body["error"]["expected"].as_str().unwrap().contains("at most 2"), "{body}");
        let (status, body) = submit(&s, &mo, "name: gpu\ncommand: [true]\nresources: {gpus: 1}\n").await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("workload.resources.gpus")));

        // Within quota: accepted; with no pools it waits, and says why.
        let (status, job) = submit(&s, &mo, HELLO).await;
        assert_eq!(status, 201);
        let id = job["id"].as_str().unwrap();
        let reason = loop {
            let (_, queue) = s.call(Method::GET, "/v1/queue", &mo, None).await;
            let reason = queue[0]["reason"].as_str().unwrap().to_string();
            if reason.starts_with("no pool") {
                break reason;
            }
            s.call(Method::GET, "/metrics", &mo, None).await; // let the scheduler run a round
        };
        assert_eq!(reason, "no pool can run it: no pools are configured");
        let (_, got) = s.call(Method::GET, &format!("/v1/jobs/{id}"), &mo, None).await;
        assert_eq!(got["wait_reason"], reason.as_str());
        s.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_metrics_count_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = databases("the_openapi_document_lists_every_route", dir.path()).await.remove(0);
    let s = TestServer::start(&db, vec![]).await;
    let doc: Value = s.http.get(s.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs"),
        ("get", "/v1/jobs/{id}"),
        ("post", "/v1/jobs/{id}/cancel"),
        ("get", "/v1/jobs/{id}/logs"),
        ("get", "/v1/jobs/{id}/wait"),
        ("get", "/v1/queue"),
        ("get", "/v1/pools"),
        ("post", "/v1/admin/tenants"),
        ("get", "/v1/admin/tenants"),
        ("put", "/v1/admin/tenants/{name}/quota"),
        ("post", "/v1/admin/users"),
        ("get", "/v1/admin/users"),
        ("post", "/v1/admin/tokens"),
        ("get", "/v1/admin/tokens"),
        ("delete", "/v1/admin/tokens/{id}"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, routes.len(), "the document has exactly the API's routes");
    let token = s.tenant_user("red", "mo", "member").await;
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the OpenAPI document");
        assert_eq!(op["security"][0]["token"], json!([]), "{method} {path} names its auth");
        // Each documented route exists: without a token it answers 401, not 404.
        let url = s.url(&path.replace("{id}", "x").replace("{name}", "red"));
        let resp = s.http.request(method.to_uppercase().parse().unwrap(), url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{method} {path}");
    }
    assert_eq!(doc["components"]["securitySchemes"]["token"]["scheme"], "bearer");
    // Its example round-trips: the SubmitRequest example is accepted as a submission.
    let example = doc["components"]["schemas"]["SubmitRequest"]["properties"]["workload"]["example"].as_str().unwrap();
    let (status, body) = submit(&s, &token, example).await;
    assert_eq!(status, 201, "{body}");
    let ui = s.http.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status().as_u16(), 200, "the Swagger UI is served from the binary");

    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ferry_jobs{state=\"queued\",pool=\"\"} 1"), "{metrics}");
    assert!(metrics.contains("ferry_queue_length 1"), "{metrics}");
    assert!(metrics.contains("ferry_dispatch_latency_seconds_count 0"), "{metrics}");
    s.stop().await;
}
