//! `Metadata.BuildMethod: esbuild` through a real `meridian up`, on a template in the shape
//! of `sam init`'s TypeScript hello world: the function's dev packages are installed with
//! `npm ci` from its lock file (esbuild from npm), the TypeScript is bundled as `sam build`
//! bundles it, and the route answers from the built code.

mod observe_support;

use std::path::Path;

use observe_support::{Up, copy_dir, get, tool};

#[test]
fn an_esbuild_function_is_built_at_up_and_serves_its_route() {
    if tool("npm", "apt-get install npm").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let app = tmp.path().join("app");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/esbuild-app"),
        &app,
    );
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "3000=0"]);
    let api = up.banner_address("(GET /hello -> HelloWorldFunction)", "http://");
    let addr = api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("addr");
    let (status, body) = get(addr, "/hello", &[]);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"message": "hello world", "path": "/hello", "bundled": true})
    );
    // What ran is the bundle: minified, with its source map, under the state folder.
    let built = tmp.path().join(".meridian/build/HelloWorldFunction");
    let js = std::fs::read_to_string(built.join("app.js")).expect("the bundle");
    assert!(js.lines().count() < 10, "minified: {js}");
    assert!(built.join("app.js.map").is_file());
    // Nothing was written beside the sources but the packages.
    assert!(!app.join("hello-world/app.js").exists());

    drop(up);

    // `meridian invoke` builds too, as `sam local invoke` runs what `sam build` made.
    std::fs::remove_dir_all(tmp.path().join(".meridian/build")).expect("clear the build");
    std::fs::write(tmp.path().join("event.json"), r#"{"path": "/from-invoke"}"#).expect("write");
    let out = observe_support::meridian()
        .current_dir(tmp.path())
        .args(["invoke", "-t", "app/template.yaml", "-e", "event.json"])
        .output()
        .expect("meridian invoke");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the result on stdout");
    let body: serde_json::Value =
        serde_json::from_str(result["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["path"], "/from-invoke");
}
