use std::path::Path;

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn rendered(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .map(|d| {
            let name = d.file.file_name().map(|n| n.to_string_lossy().into_owned());
            format!(
                "{}:{}:{}: {}",
                name.unwrap_or_default(),
                d.span.line,
                d.span.col,
                d.message
            )
        })
        .collect()
}

const COURSE_FUNCTION: &str = r#"{
  "bindings": [
    {
      "authLevel": "anonymous",
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "methods": ["get", "post"]
    },
    {
      "type": "http",
      "direction": "out",
      "name": "res"
    }
  ]
}
"#;

const COURSE_DOCKERFILE: &str = "FROM mcr.microsoft.com/azure-functions/node:4

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \\
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true

COPY . /home/site/wwwroot

RUN cd /home/site/wwwroot && npm install
";

#[test]
fn the_course_layout_is_an_app_from_its_dockerfile() {
    let d = tmp();
    write(d.path(), "Dockerfile", COURSE_DOCKERFILE);
    write(d.path(), "HttpTrigger/function.json", COURSE_FUNCTION);
    write(
        d.path(),
        "HttpTrigger/index.js",
        "module.exports = async function () {};\n",
    );
    assert!(is_app_root(d.path()));
    let l = load_app(d.path());
    assert_eq!(rendered(&l), Vec::<String>::new());
    let app = l.valid().unwrap_or_else(|| panic!("invalid"));
    assert_eq!(app.worker, Worker::Node { major: None });
    assert_eq!(app.host.route_prefix, "api");
    assert!(app.install_packages);
    assert_eq!(
        app.settings
            .get("AzureFunctionsJobHost__Logging__Console__IsEnabled"),
        Some(&"true".to_owned())
    );
    let [f] = app.functions.as_slice() else {
        panic!("{:?}", app.functions)
    };
    assert_eq!(f.name, "HttpTrigger");
    let Trigger::Http(h) = &f.trigger else {
        panic!("{:?}", f.trigger)
    };
    assert_eq!(h.auth_level, AuthLevel::Anonymous);
    assert_eq!(h.methods, ["GET", "POST"]);
    assert!(h.route.is_none());
    assert_eq!(l.inputs.len(), 2);
}

#[test]
fn host_json_settings_and_image_versions() {
    let d = tmp();
    write(
        d.path(),
        "host.json",
        r#"{"version": "2.0", "functionTimeout": "00:00:30",
  "extensions": {"http": {"routePrefix": "", "maxConcurrentRequests": 4}},
  "logging": {"logLevel": {"default": "Information"}}}"#,
    );
    write(
        d.path(),
        "local.settings.json",
        r#"{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "GREETING": "hi"}}"#,
    );
    write(
        d.path(),
        "function_app.py",
        "import azure.functions as func\n",
    );
    let l = load_app(d.path());
    assert_eq!(
        rendered(&l),
        [
            "host.json:3:3: 'logging' is not served: Meridian writes every level to the app's function.log"
        ]
    );
    let app = l.valid().unwrap_or_else(|| panic!("invalid"));
    assert_eq!(app.worker, Worker::Python { minor: None });
    assert_eq!(app.host.route_prefix, "");
    assert_eq!(app.host.function_timeout, Duration::from_secs(30));
    assert_eq!(app.host.max_concurrent_requests, Some(4));
    assert_eq!(app.settings.get("GREETING"), Some(&"hi".to_owned()));

    let d = tmp();
    write(
        d.path(),
        "Dockerfile",
        "FROM mcr.microsoft.com/azure-functions/node:4-node20\nCOPY app /home/site/wwwroot\n",
    );
    write(d.path(), "app/host.json", r#"{"version": "2.0"}"#);
    write(d.path(), "app/Hello/function.json", COURSE_FUNCTION);
    let l = load_app(d.path());
    let app = l.valid().unwrap_or_else(|| panic!("{:?}", rendered(&l)));
    assert_eq!(app.worker, Worker::Node { major: Some(20) });
    assert_eq!(app.root, d.path().join("app"));
    assert_eq!(app.functions.len(), 1);
}

#[test]
fn invalid_files_are_located() {
    let d = tmp();
    write(
        d.path(),
        "host.json",
        "{\n  \"version\": \"1.0\",\n  \"functionTimeout\": \"5 minutes\"\n}\n",
    );
    write(
        d.path(),
        "A/function.json",
        r#"{
  "bindings": [
    {"type": "httpTrigger", "direction": "sideways", "name": "req"},
    {"type": "http", "direction": "out", "name": "res"}
  ]
}"#,
    );
    write(
        d.path(),
        "B/function.json",
        r#"{
  "bindings": [
    {"type": "httpTriger", "direction": "in", "name": "req"}
  ]
}"#,
    );
    write(
        d.path(),
        "C/function.json",
        r#"{
  "bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req",
     "authLevel": "anonymus", "route": "items/{id:int"}
  ]
}"#,
    );
    write(
        d.path(),
        "D/function.json",
        r#"{
  "bindings": [
    {"type": "httpTrigger", "direction": "in", "name": "req"},
    {"type": "queue", "direction": "out", "name": "msg", "queueName": "q"},
    {"type": "http", "direction": "out", "name": "res"}
  ]
}"#,
    );
    write(
        d.path(),
        "E/function.json",
        "{\"bindings\": [\n  {\"type\": \"http\",\n",
    );
    let l = load_app(d.path());
    let got = rendered(&l);
    let want = [
        "host.json:2:14: host.json version \"1.0\" is not supported; the Functions host v4 reads version \"2.0\"",
        "host.json:3:22: functionTimeout \"5 minutes\" is not a TimeSpan (hh:mm:ss)",
        "function.json:3:42: the binding direction 'sideways' is invalid; use in, out or inout",
        "function.json:2:15: no trigger binding specified; a function must have a trigger input binding",
        "function.json:3:14: the binding type 'httpTriger' is not registered; it is not a binding the Functions host or its extension bundle knows",
        "function.json:2:15: no trigger binding specified; a function must have a trigger input binding",
        "function.json:4:19: the authLevel 'anonymus' is invalid; use anonymous, function or admin",
        "function.json:4:40: the route template 'items/{id:int' is invalid: there is an incomplete parameter in the route template segment '{id:int'; check that each '{' character has a matching '}' character",
        "function.json:4:14: 'queue' bindings are not served: the 'msg' output binding of function 'D' is neither read nor written",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w}\nin {got:#?}");
    }
    assert!(
        got.iter().any(|g| g.starts_with("function.json:3:1:")),
        "E's syntax error: {got:#?}"
    );
    let hint = l
        .diagnostics
        .iter()
        .find(|d| d.message.contains("httpTriger"))
        .and_then(|d| d.hint.clone());
    assert_eq!(hint.as_deref(), Some("did you mean 'httpTrigger'?"));
    assert!(l.valid().is_none());
}

#[test]
fn same_route_twice_is_refused() {
    let d = tmp();
    write(d.path(), "host.json", r#"{"version": "2.0"}"#);
    let f = r#"{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req", "route": "items", "methods": ["get"]}, {"type": "http", "direction": "out", "name": "res"}]}"#;
    write(d.path(), "One/function.json", f);
    write(d.path(), "Two/function.json", f);
    let l = load_app(d.path());
    assert!(
        rendered(&l).iter().any(|m| m.contains(
            "function 'One' and function 'Two' have the same route and method (GET items)"
        )),
        "{:#?}",
        rendered(&l)
    );
}

#[test]
fn what_is_accepted_but_not_served_is_said_and_function_lists_apply() {
    let d = tmp();
    write(
        d.path(),
        "host.json",
        r#"{"version": "2.0", "functions": ["Kept", "Gone"], "retry": {"strategy": "fixedDelay"},
  "extensions": {"http": {"routePrefix": "api", "hsts": {"isEnabled": true}}, "queues": {"batchSize": 8}}}"#,
    );
    write(
        d.path(),
        "local.settings.json",
        r#"{"Values": {}, "Host": {"LocalHttpPort": 7072}}"#,
    );
    write(d.path(), "Kept/function.json", COURSE_FUNCTION);
    write(d.path(), "Dropped/function.json", COURSE_FUNCTION);
    write(
        d.path(),
        "Gone/function.json",
        r#"{"excluded": true, "bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"},
  {"type": "http", "direction": "out", "name": "res"}]}"#,
    );
    let l = load_app(d.path());
    let got = rendered(&l);
    for want in [
        "host.json:1:51: 'retry' is not served: a failed invocation is not run again",
        "host.json:2:49: 'hsts' is not served: Meridian's gateway applies its own limits and headers",
        "host.json:2:79: 'queues' is not served: the queues extension's bindings are not run",
        "local.settings.json:1:16: 'Host' is not served: the app listens on Gateway port 7071 (--gateway-port 7071=PORT), with the gateway's own CORS",
    ] {
        assert!(got.iter().any(|g| g == want), "missing {want}\nin {got:#?}");
    }
    let app = l.valid().unwrap_or_else(|| panic!("{got:#?}"));
    let names: Vec<(&str, bool)> = app
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.disabled))
        .collect();
    assert_eq!(names, [("Gone", true), ("Kept", false)]);
}

#[test]
fn timespans() {
    assert_eq!(parse_timespan("00:05:00"), Some(Duration::from_secs(300)));
    assert_eq!(
        parse_timespan("1.02:00:00"),
        Some(Duration::from_secs(93_600))
    );
    assert_eq!(
        parse_timespan("00:00:01.5"),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(parse_timespan("00:61:00"), None);
    assert_eq!(parse_timespan("300"), None);
}

#[test]
fn blob_bindings_are_read_and_bad_paths_point_at_their_line() {
    let d = tmp();
    write(d.path(), "host.json", r#"{"version": "2.0"}"#);
    write(
        d.path(),
        "Thumb/function.json",
        r#"{
  "bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "myBlob",
     "path": "samples-workitems/{name}.{ext}", "connection": "AzureWebJobsStorage"},
    {"type": "blob", "direction": "in", "name": "meta", "path": "samples-meta/{name}.json"},
    {"type": "blob", "direction": "out", "name": "thumb", "path": "thumbs/{name}-{rand-guid}.{ext}"}
  ]
}"#,
    );
    write(
        d.path(),
        "Bad/function.json",
        r#"{
  "bindings": [
    {"type": "blobTrigger", "direction": "in", "name": "b", "path": "Samples/{name}"},
    {"type": "blob", "direction": "out", "name": "o", "path": "out/{name"},
    {"type": "blob", "direction": "in", "name": "i"}
  ]
}"#,
    );
    let l = load_app(d.path());
    let got = rendered(&l);
    let want = [
        "function.json:3:69: the container name 'Samples' is invalid: container names have 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit",
        "function.json:4:63: the binding expression at offset 4 of 'out/{name' is malformed: '{' without '}'",
        "function.json:5:5: the 'blob' binding has no 'path' ('container/blob')",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w}\nin {got:#?}");
    }
    assert!(
        !got.iter().any(|g| g.contains("not served")),
        "blob bindings are served: {got:#?}"
    );
    let app = l.app.as_ref().expect("the app is described");
    let thumb = app
        .functions
        .iter()
        .find(|f| f.name == "Thumb")
        .expect("Thumb");
    let Trigger::Blob(t) = &thumb.trigger else {
        panic!("a blob trigger: {:?}", thumb.trigger)
    };
    assert_eq!(t.name, "myBlob");
    assert_eq!(t.path.container_name(), Some("samples-workitems"));
    assert_eq!(thumb.bindings.len(), 2);
    assert_eq!(
        thumb.bindings[1].path.as_ref().map(|p| p.as_str()),
        Some("thumbs/{name}-{rand-guid}.{ext}")
    );
}
