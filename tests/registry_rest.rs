//! The schema registry's REST API, served by the real `runnel serve --registry-listen` on
//! ephemeral loopback ports and spoken to over real HTTP/1.1 sockets: Confluent's paths,
//! status codes, error codes and JSON shapes; a restart on the same data directory; bad input;
//! concurrent registrations; and `runnel schemas`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// `runnel serve` with the registry, in a temporary data directory; SIGTERM on `stop`, killed
/// on drop.
struct Serve {
    child: Option<Child>,
    _stdout: Option<BufReader<ChildStdout>>,
    http: u16,
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Serve {
    fn start() -> Serve {
        let temp = tempfile::tempdir().unwrap();
        let mut s = Serve {
            child: None,
            _stdout: None,
            http: 0,
            dir: temp.path().join("data"),
            _temp: temp,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--registry-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(&self.dir)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "runnel serve ended before listening"
            );
            if let Some(addr) = line.trim().strip_prefix("schema registry listening on ") {
                self.http = addr.rsplit(':').next().unwrap().parse().unwrap();
                break;
            }
        }
        self.child = Some(child);
        // Kept open: a closed pipe would turn a later line into a SIGPIPE.
        self._stdout = Some(out);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "runnel serve exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "runnel serve did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// One HTTP/1.1 exchange: (status, content type, body).
    fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String, String) {
        http(self.http, method, path, content_type, body)
    }

    /// A JSON exchange with Confluent's content type: (status, body as JSON).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, ct, text) = self.raw(
            method,
            path,
            body.as_ref().map(|_| "application/vnd.schemaregistry.v1+json"),
            body.as_deref(),
        );
        assert_eq!(ct, "application/vnd.schemaregistry.v1+json", "{method} {path}");
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text:?}"));
        (status, json)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, json) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {json}");
        json
    }

    /// Asserts an error reply: HTTP status and Confluent error code.
    fn fails(&self, method: &str, path: &str, body: Option<Value>, status: u16, code: u32) -> String {
        let (got, json) = self.call(method, path, body);
        assert_eq!(
            (got, json["error_code"].as_u64()),
            (status, Some(u64::from(code))),
            "{method} {path}: {json}"
        );
        json["message"].as_str().unwrap_or_default().to_string()
    }

    fn register(&self, subject: &str, schema: &str) -> u64 {
        self.ok(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({"schema": schema})),
        )["id"]
            .as_u64()
            .unwrap()
    }

    fn data_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        request.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(request.as_bytes()).unwrap();
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut bytes = Vec::new();
    // A server that refuses a body it did not read may reset the connection after its reply:
    // what arrived before the reset is the reply.
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if bytes.is_empty() => panic!("no reply: {e}"),
            Err(_) => break,
        }
    }
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ct = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ct, body.to_string())
}

fn record(name: &str, fields: &[&str]) -> String {
    json!({"type": "record", "name": name, "fields": fields.iter().map(|f| match f.split_once('=') {
        Some((n, t)) => json!({"name": n, "type": t, "default": if t == "string" { json!("") } else { json!(0) }}),
        None => json!({"name": f, "type": "int"}),
    }).collect::<Vec<_>>()})
    .to_string()
}

#[test]
fn register_lookup_versions_ids_and_deletes_follow_confluents_api() {
    let s = Serve::start();
    let v1 = record("User", &["id"]);
    let v2 = record("User", &["id", "name=string"]);
    assert_eq!(s.ok("GET", "/subjects", None), json!([]));
    assert_eq!(s.ok("GET", "/schemas/types", None), json!(["AVRO"]));

    // Register is idempotent; the same schema keeps its id across subjects.
    let reply = s.ok(
        "POST",
        "/subjects/users-value/versions",
        Some(json!({"schema": v1})),
    );
    assert_eq!(reply, json!({"id": 1}), "register answers {{\"id\": N}} only");
    assert_eq!(s.register("users-value", &v1), 1);
    assert_eq!(s.register("audit-value", &v1), 1);
    assert_eq!(s.register("users-value", &v2), 2);
    assert_eq!(
        s.ok("GET", "/subjects", None),
        json!(["audit-value", "users-value"])
    );
    assert_eq!(s.ok("GET", "/subjects/users-value/versions", None), json!([1, 2]));

    // Versions by number and latest; AVRO omits schemaType; /schema is the bare text.
    assert_eq!(
        s.ok("GET", "/subjects/users-value/versions/1", None),
        json!({"subject": "users-value", "version": 1, "id": 1, "schema": v1})
    );
    assert_eq!(
        s.ok("GET", "/subjects/users-value/versions/latest", None)["id"],
        2
    );
    let (status, ct, text) = s.raw("GET", "/subjects/users-value/versions/2/schema", None, None);
    assert_eq!(
        (status, ct.as_str(), text.as_str()),
        (200, "application/vnd.schemaregistry.v1+json", v2.as_str())
    );

    // By id, and where an id is registered.
    assert_eq!(s.ok("GET", "/schemas/ids/1", None), json!({"schema": v1}));
    assert_eq!(
        s.ok("GET", "/schemas/ids/1/subjects", None),
        json!(["audit-value", "users-value"])
    );
    assert_eq!(
        s.ok("GET", "/schemas/ids/1/versions", None),
        json!([{"subject": "audit-value", "version": 1}, {"subject": "users-value", "version": 1}])
    );

    // Lookup under a subject, with every accepted content type (and none).
    for ct in [
        Some("application/vnd.schemaregistry.v1+json"),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json; charset=utf-8"),
        None,
    ] {
        let (status, _, text) = s.raw(
            "POST",
            "/subjects/users-value",
            ct,
            Some(&json!({"schema": v2}).to_string()),
        );
        assert_eq!(status, 200, "{ct:?}: {text}");
        let found: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (found["version"].as_u64(), found["id"].as_u64()),
            (Some(2), Some(2))
        );
    }
    let (status, _, text) = s.raw("POST", "/subjects/users-value", Some("text/plain"), Some("{}"));
    assert_eq!(status, 415, "{text}");
    s.fails(
        "POST",
        "/subjects/users-value",
        Some(json!({"schema": record("Other", &["q"])})),
        404,
        40403,
    );

    // Soft delete of a version: gone from the list, back with deleted=true; its id still serves.
    assert_eq!(s.ok("DELETE", "/subjects/users-value/versions/1", None), json!(1));
    assert_eq!(s.ok("GET", "/subjects/users-value/versions", None), json!([2]));
    assert_eq!(
        s.ok("GET", "/subjects/users-value/versions?deleted=true", None),
        json!([1, 2])
    );
    s.fails("GET", "/subjects/users-value/versions/1", None, 404, 40402);
    assert_eq!(
        s.ok("GET", "/subjects/users-value/versions/1?deleted=true", None)["id"],
        1
    );
    s.fails("DELETE", "/subjects/users-value/versions/1", None, 404, 40406);
    s.fails(
        "DELETE",
        "/subjects/users-value/versions/2?permanent=true",
        None,
        404,
        40407,
    );
    assert_eq!(
        s.ok("DELETE", "/subjects/users-value/versions/1?permanent=true", None),
        json!(1)
    );
    assert_eq!(
        s.ok("GET", "/subjects/users-value/versions?deleted=true", None),
        json!([2])
    );
    assert_eq!(
        s.ok("GET", "/schemas/ids/1", None),
        json!({"schema": v1}),
        "audit-value still holds id 1"
    );

    // Subjects: permanent needs a soft delete first; a second soft delete is 40404.
    s.fails("DELETE", "/subjects/audit-value?permanent=true", None, 404, 40405);
    assert_eq!(s.ok("DELETE", "/subjects/audit-value", None), json!([1]));
    s.fails("DELETE", "/subjects/audit-value", None, 404, 40404);
    assert_eq!(s.ok("GET", "/subjects", None), json!(["users-value"]));
    assert_eq!(
        s.ok("GET", "/subjects?deleted=true", None),
        json!(["audit-value", "users-value"])
    );
    assert_eq!(
        s.ok("GET", "/schemas/ids/1", None),
        json!({"schema": v1}),
        "soft-deleted ids still serve"
    );
    assert_eq!(
        s.ok("DELETE", "/subjects/audit-value?permanent=true", None),
        json!([1])
    );
    s.fails("GET", "/schemas/ids/1", None, 404, 40403);
    s.fails("GET", "/subjects/audit-value/versions", None, 404, 40401);

    // Unknown paths and methods answer in the same JSON shape.
    s.fails("GET", "/nope", None, 404, 404);
    s.fails("PATCH", "/subjects", None, 405, 405);
}

#[test]
fn config_mode_and_compatibility_endpoints() {
    let s = Serve::start();
    let v1 = record("Event", &["id"]);
    let with_default = record("Event", &["id", "note=string"]);
    let without_default = json!({"type": "record", "name": "Event", "fields": [
        {"name": "id", "type": "int"}, {"name": "extra", "type": "int"}]})
    .to_string();

    assert_eq!(
        s.ok("GET", "/config", None),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    assert_eq!(s.ok("GET", "/mode", None), json!({"mode": "READWRITE"}));
    s.register("events", &v1);

    // Compatibility test: verbose adds the messages; latest of an unknown subject is compatible.
    let path = "/compatibility/subjects/events/versions/latest";
    assert_eq!(
        s.ok("POST", path, Some(json!({"schema": with_default}))),
        json!({"is_compatible": true})
    );
    let answer = s.ok(
        "POST",
        &format!("{path}?verbose=true"),
        Some(json!({"schema": without_default})),
    );
    assert_eq!(answer["is_compatible"], false);
    assert!(!answer["messages"].as_array().unwrap().is_empty(), "{answer}");
    assert_eq!(
        s.ok(
            "POST",
            "/compatibility/subjects/nobody/versions/latest",
            Some(json!({"schema": v1}))
        ),
        json!({"is_compatible": true})
    );
    s.fails(
        "POST",
        "/compatibility/subjects/events/versions/7",
        Some(json!({"schema": v1})),
        404,
        40402,
    );
    s.fails(
        "POST",
        "/compatibility/subjects/nobody/versions/1",
        Some(json!({"schema": v1})),
        404,
        40401,
    );

    // Registering the incompatible schema is a 409; nothing is stored.
    let message = s.fails(
        "POST",
        "/subjects/events/versions",
        Some(json!({"schema": without_default})),
        409,
        409,
    );
    assert!(
        message.contains("incompatible") && message.contains("\"events\""),
        "{message}"
    );
    assert_eq!(s.ok("GET", "/subjects/events/versions", None), json!([1]));

    // Subject-level config: 40408 until set, defaultToGlobal falls back; NONE lets it through.
    s.fails("GET", "/config/events", None, 404, 40408);
    assert_eq!(
        s.ok("GET", "/config/events?defaultToGlobal=true", None),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    assert_eq!(
        s.ok("PUT", "/config/events", Some(json!({"compatibility": "none"}))),
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        s.ok("GET", "/config/events", None),
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(s.register("events", &without_default), 2);
    assert_eq!(
        s.ok("DELETE", "/config/events", None),
        json!({"compatibilityLevel": "NONE"})
    );
    s.fails("DELETE", "/config/events", None, 404, 40401);
    s.fails(
        "PUT",
        "/config",
        Some(json!({"compatibility": "SIDEWAYS"})),
        422,
        42203,
    );
    assert_eq!(
        s.ok(
            "PUT",
            "/config",
            Some(json!({"compatibility": "FULL_TRANSITIVE"}))
        ),
        json!({"compatibility": "FULL_TRANSITIVE"})
    );
    assert_eq!(
        s.ok("GET", "/config", None),
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );

    // READONLY refuses writes with 42205 until READWRITE again; unknown modes are 42204.
    assert_eq!(
        s.ok("PUT", "/mode", Some(json!({"mode": "READONLY"}))),
        json!({"mode": "READONLY"})
    );
    s.fails(
        "POST",
        "/subjects/other/versions",
        Some(json!({"schema": v1})),
        422,
        42205,
    );
    s.fails("DELETE", "/subjects/events", None, 422, 42205);
    s.fails("PUT", "/mode", Some(json!({"mode": "SOMETIMES"})), 422, 42204);
    // IMPORT needs an empty registry unless forced.
    s.fails("PUT", "/mode", Some(json!({"mode": "IMPORT"})), 422, 42205);
    assert_eq!(
        s.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"}))),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        s.ok("GET", "/subjects", None),
        json!(["events"]),
        "nothing was written while read-only"
    );
}

/// Issue point 3: after a restart on the same data directory every subject, version, id and
/// config is intact, and a new schema gets a fresh id — none reused, also not one whose only
/// record was permanently deleted.
#[test]
fn restart_keeps_every_subject_version_id_and_config_and_ids_continue() {
    let mut s = Serve::start();
    let a = [
        record("A", &["x"]),
        record("A", &["x", "y=string"]),
        record("A", &["x", "y=string", "z=int"]),
    ];
    for v in &a {
        s.register("a-value", v);
    }
    assert_eq!(s.register("b-value", &a[0]), 1, "shared id");
    let b2 = s.register("b-value", &record("A", &["x", "q=int"]));
    let c1 = s.register("c-value", &record("C", &["w"]));
    assert_eq!((b2, c1), (4, 5));
    s.ok("PUT", "/config", Some(json!({"compatibility": "FORWARD"})));
    s.ok("PUT", "/config/a-value", Some(json!({"compatibility": "FULL"})));
    s.ok("DELETE", "/subjects/a-value/versions/2", None);
    s.ok("DELETE", "/subjects/c-value", None);
    s.ok("DELETE", "/subjects/c-value?permanent=true", None);

    let paths = [
        "/subjects",
        "/subjects?deleted=true",
        "/subjects/a-value/versions",
        "/subjects/a-value/versions?deleted=true",
        "/subjects/a-value/versions/1",
        "/subjects/a-value/versions/2?deleted=true",
        "/subjects/a-value/versions/latest",
        "/subjects/b-value/versions",
        "/subjects/b-value/versions/2",
        "/schemas/ids/1",
        "/schemas/ids/1/versions?deleted=true",
        "/schemas/ids/2",
        "/schemas/ids/3",
        "/schemas/ids/4",
        "/config",
        "/config/a-value",
        "/mode",
    ];
    let before: Vec<Value> = paths.iter().map(|p| s.ok("GET", p, None)).collect();
    s.fails("GET", "/schemas/ids/5", None, 404, 40403);

    s.restart();
    let after: Vec<Value> = paths.iter().map(|p| s.ok("GET", p, None)).collect();
    for ((p, b), a) in paths.iter().zip(&before).zip(&after) {
        assert_eq!(a, b, "{p} changed across the restart");
    }
    s.fails("GET", "/schemas/ids/5", None, 404, 40403);
    s.fails("GET", "/subjects/c-value/versions?deleted=true", None, 404, 40401);
    // Ids continue above the largest ever handed out (5, whose record is gone).
    assert_eq!(s.register("c-value", &record("C", &["w"])), 6);
    assert_eq!(s.register("d-value", &record("D", &["k"])), 7);
    assert!(
        s.data_dir().join("_schemas-0").is_dir(),
        "the state lives in the _schemas topic"
    );
}

/// Issue point 4: bad input gets the documented codes, stores nothing, and the server keeps
/// serving.
#[test]
fn bad_input_gets_documented_codes_and_stores_nothing() {
    let s = Serve::start();
    let good = record("Good", &["id"]);
    s.register("good", &good);
    let stored = || {
        (
            s.ok("GET", "/subjects?deleted=true", None),
            s.ok("GET", "/subjects/good/versions?deleted=true", None),
        )
    };
    let before = stored();

    // Malformed JSON and JSON of the wrong shape: 400 (Confluent's rest-utils).
    for body in ["{\"schema\": ", "not json", "[1,2]", "{\"schema\": 5}"] {
        let (status, ct, text) = s.raw(
            "POST",
            "/subjects/bad/versions",
            Some("application/json"),
            Some(body),
        );
        assert_eq!(status, 400, "{body}: {text}");
        assert_eq!(ct, "application/vnd.schemaregistry.v1+json");
        let json: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["error_code"], 400, "{text}");
    }
    // An empty body is unprocessable.
    let (status, _, _) = s.raw("POST", "/subjects/bad/versions", Some("application/json"), None);
    assert_eq!(status, 422);
    // Invalid Avro: 42201, also for a missing schema and non-Avro types.
    for body in [
        json!({"schema": "{\"type\": \"record\", \"name\": \"X\"}"}),
        json!({"schema": "{\"type\": \"nonsense\"}"}),
        json!({"schema": "not avro at all"}),
        json!({}),
        json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}),
    ] {
        let message = s.fails("POST", "/subjects/bad/versions", Some(body.clone()), 422, 42201);
        assert!(!message.is_empty(), "{body}");
    }
    let message = s.fails(
        "POST",
        "/subjects/bad/versions",
        Some(json!({"schema": good, "references": [{"name": "x", "subject": "y", "version": 1}]})),
        422,
        422,
    );
    assert!(message.contains("references"), "{message}");
    // Unknown subjects, versions, ids; invalid versions.
    s.fails("GET", "/subjects/nobody/versions", None, 404, 40401);
    s.fails("GET", "/subjects/nobody/versions/1", None, 404, 40401);
    s.fails(
        "POST",
        "/subjects/nobody",
        Some(json!({"schema": good})),
        404,
        40401,
    );
    s.fails("GET", "/subjects/good/versions/2", None, 404, 40402);
    s.fails("DELETE", "/subjects/good/versions/9", None, 404, 40402);
    s.fails("GET", "/schemas/ids/999", None, 404, 40403);
    s.fails("GET", "/schemas/ids/abc", None, 404, 40403);
    for v in ["0", "-2", "abc", "2147483648"] {
        s.fails("GET", &format!("/subjects/good/versions/{v}"), None, 422, 42202);
        s.fails(
            "DELETE",
            &format!("/subjects/good/versions/{v}"),
            None,
            422,
            42202,
        );
    }
    // A subject name with a control character.
    s.fails(
        "POST",
        "/subjects/a%01b/versions",
        Some(json!({"schema": good})),
        422,
        42208,
    );

    // Oversized: a declared length above the limit is refused before any byte of the body is
    // sent (the server does not wait for it) ...
    let limit = 1 << 20;
    let mut conn = TcpStream::connect(("127.0.0.1", s.http)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        conn,
        "POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        limit * 4
    )
    .unwrap();
    let (status, _, text) = read_response(&mut conn);
    assert_eq!(status, 413, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error_code"], 413);
    // ... and a chunked body is cut off once it passes the limit.
    let big_schema = format!(
        "{{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[{}]}}",
        vec!["\"S\""; limit / 3].join(",")
    );
    let body = json!({"schema": big_schema}).to_string();
    assert!(body.len() > limit);
    let mut conn = TcpStream::connect(("127.0.0.1", s.http)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = "POST /subjects/big/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    let writer = {
        let mut conn = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            // The server may close before reading it all; that is the point.
            let _ = conn.write_all(request.as_bytes());
        })
    };
    let (status, _, text) = read_response(&mut conn);
    let _ = writer.join();
    assert_eq!(status, 413, "{text}");

    // A path segment that is not percent-encoded UTF-8 is rejected by the router itself:
    // still Confluent's JSON error shape, which clients parse for every error.
    let (status, ct, text) = s.raw("GET", "/subjects/%FF%FE/versions", None, None);
    assert_eq!(status, 400, "{text}");
    assert_eq!(ct, "application/vnd.schemaregistry.v1+json");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["error_code"], 400, "{text}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");

    assert_eq!(stored(), before, "nothing was stored");
    assert_eq!(
        s.ok("GET", "/subjects/good/versions/1", None)["schema"],
        good,
        "still serving"
    );
}

#[test]
fn concurrent_registrations_of_distinct_schemas_get_distinct_ids() {
    let s = Serve::start();
    // Unrelated schemas under shared subjects: only NONE lets them all in.
    s.ok("PUT", "/config", Some(json!({"compatibility": "NONE"})));
    let port = s.http;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                (0..12)
                    .map(|i| {
                        let schema = record(&format!("R{t}_{i}"), &["a"]);
                        let body = json!({"schema": schema}).to_string();
                        let (status, _, text) = http(
                            port,
                            "POST",
                            &format!("/subjects/s{}/versions", i % 3),
                            Some("application/json"),
                            Some(&body),
                        );
                        assert_eq!(status, 200, "{text}");
                        serde_json::from_str::<Value>(&text).unwrap()["id"]
                            .as_u64()
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=96).collect::<Vec<_>>(), "96 distinct ids, none skipped");
    let versions: usize = (0..3)
        .map(|i| {
            s.ok("GET", &format!("/subjects/s{i}/versions"), None)
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(versions, 96);
}

#[test]
fn schemas_cli_registers_lists_gets_and_checks() {
    let s = Serve::start();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let v1 = write("v1.avsc", &record("Order", &["id"]));
    let v2 = write("v2.avsc", &record("Order", &["id", "note=string"]));
    let bad = write(
        "bad.avsc",
        &json!({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}).to_string(),
    );
    let cli = |args: &[&str], file: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
        cmd.arg("schemas").args(args).args(["--registry", &s.url()]);
        if let Some(f) = file {
            cmd.arg("--file").arg(f);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        cli(&["register", "orders-value"], Some(&v1)),
        (
            true,
            "subject orders-value version 1 id 1\n".into(),
            String::new()
        )
    );
    assert_eq!(cli(&["check", "orders-value"], Some(&v2)).1, "compatible\n");
    assert_eq!(
        cli(&["register", "orders-value"], Some(&v2)).1,
        "subject orders-value version 2 id 2\n"
    );
    assert_eq!(cli(&["list"], None).1, "orders-value\n");
    let (ok, out, _) = cli(&["get", "orders-value", "--version", "1"], None);
    assert!(ok);
    assert_eq!(
        out,
        format!(
            "subject orders-value version 1 id 1\n{}\n",
            record("Order", &["id"])
        )
    );
    assert!(
        cli(&["get", "orders-value"], None)
            .1
            .starts_with("subject orders-value version 2 id 2\n")
    );

    // Failures: one readable line on stderr and a non-zero exit.
    for (args, file, needle) in [
        (
            &["check", "orders-value"][..],
            Some(bad.as_path()),
            "not compatible",
        ),
        (
            &["register", "orders-value"][..],
            Some(bad.as_path()),
            "incompatible",
        ),
        (&["get", "nobody"][..], None, "Subject 'nobody' not found"),
        (
            &["get", "orders-value", "--version", "x"][..],
            None,
            "not a valid version",
        ),
        (
            &["register", "x"][..],
            Some(dir.path().join("missing.avsc").as_path()),
            "missing.avsc",
        ),
    ] {
        let (ok, _, err) = cli(args, file);
        assert!(!ok, "{args:?} should fail");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("runnel: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let (ok, _, err) = {
        let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(["schemas", "list", "--registry", "http://127.0.0.1:1"])
            .output()
            .unwrap();
        (
            out.status.success(),
            (),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(
        !ok && err.lines().count() == 1 && err.contains("127.0.0.1:1"),
        "{err}"
    );
}
