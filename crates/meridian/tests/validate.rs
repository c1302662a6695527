//! `meridian validate` as a user runs it: what is accepted but not served is said, even when
//! the file has no error.

use std::process::Command;

#[test]
fn a_clean_template_prints_its_warnings_and_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("src")).expect("mkdir");
    std::fs::write(
        dir.path().join("src/app.js"),
        "exports.handler = async () => 1;\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\n\
         Resources:\n  \
           Worker:\n    \
             Type: AWS::Serverless::Function\n    \
             Properties:\n      \
               CodeUri: src/\n      \
               Handler: app.handler\n      \
               Runtime: nodejs20.x\n      \
               Events:\n        \
                 Jobs:\n          \
                   Type: SQS\n          \
                   Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:jobs}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(dir.path())
        .args(["validate", "-f", "."])
        .output()
        .expect("validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("function Worker (./template.yaml) validated"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "./template.yaml:11:17: warning: Worker: Properties.Events[Jobs].Type: SQS events are accepted but not delivered by Meridian"
        ),
        "{stderr}"
    );
}

#[test]
fn the_course_azure_app_validates() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(&examples)
        .args(["validate", "-f", "azure"])
        .output()
        .expect("validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "azure function azure/HttpTrigger (azure/HttpTrigger/function.json) validated"
        ),
        "{stdout}"
    );
    // A broken function.json is located as every other file.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("host.json"), "{\"version\": \"2.0\"}\n").expect("write");
    std::fs::create_dir(dir.path().join("Hello")).expect("mkdir");
    std::fs::write(
        dir.path().join("Hello/function.json"),
        "{\n  \"bindings\": [\n    {\"type\": \"httpTrigger\", \"direction\": \"in\", \"name\": \"req\", \"route\": \"a/{id:imt}\"}\n  ]\n}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(dir.path())
        .args(["validate", "-f", "."])
        .output()
        .expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("./Hello/function.json:3:72: Hello: bindings[0].route: the route template 'a/{id:imt}' is invalid: the constraint 'imt' of parameter 'id' is not a route constraint (did you mean 'int'?)"),
        "{stderr}"
    );
}

#[test]
fn what_the_data_plane_does_not_serve_is_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("gateway.yaml"),
        "apiVersion: networking.istio.io/v1\n\
         kind: Gateway\n\
         metadata: {name: gw}\n\
         spec:\n  \
           selector: {istio: ingressgateway}\n  \
           servers:\n  \
           - port: {number: 443, name: https, protocol: HTTPS}\n    \
             hosts: [a.example.com]\n    \
             tls: {mode: SIMPLE, credentialName: my-cert}\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("prometheus.yml"), "scrape_configs: []\n").expect("write");
    std::fs::write(
        dir.path().join("install.sh"),
        "#!/bin/sh\nistioctl install\n",
    )
    .expect("write");
    std::fs::create_dir(dir.path().join("HttpTrigger")).expect("mkdir");
    std::fs::write(
        dir.path().join("HttpTrigger/function.json"),
        r#"{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .current_dir(dir.path())
        .args(["validate", "-f", "."])
        .output()
        .expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "note: gateway default/gw port 443: credentialName \"my-cert\": no Secret \"my-cert\" in namespace default or istio-system; the server is not served"
        ),
        "{stderr}"
    );
    for line in [
        "skipped ./prometheus.yml: a Prometheus configuration: Meridian does not run Prometheus",
        "skipped ./install.sh: a shell script: Meridian reads configuration files and does not run scripts",
        "skipped ./HttpTrigger/function.json: an Azure Functions binding file outside a function app: put a host.json (version 2.0) in the app's folder",
    ] {
        assert!(stderr.contains(line), "{line:?} missing from:\n{stderr}");
    }
}

/// Files written for a cluster carry kinds Meridian does not run: they pass with a warning,
/// and `--strict` refuses them.
#[test]
fn kinds_not_served_warn_and_strict_refuses_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("app.yaml"),
        "apiVersion: v1\n\
         kind: ServiceAccount\n\
         metadata: {name: web}\n\
         ---\n\
         apiVersion: batch/v1\n\
         kind: Job\n\
         metadata: {name: web}\n\
         spec: {}\n",
    )
    .expect("write");
    let run = |strict: bool| {
        let mut args = vec!["validate", "-f", "app.yaml"];
        if strict {
            args.push("--strict");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_meridian"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("validate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(false);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("serviceaccount/web validated"), "{stdout}");
    assert!(stdout.contains("job.batch/web ignored"), "{stdout}");
    assert!(
        stderr.contains("app.yaml:6:7: warning: Job/web: kind: Job is not run"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run(true);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("app.yaml:6:7: Job/web: kind: Job is not run"),
        "{stderr}"
    );
    assert!(stderr.contains("error: 1 error in 1 place"), "{stderr}");
}
