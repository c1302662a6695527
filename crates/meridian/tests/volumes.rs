//! ConfigMap volumes through a real `meridian up`: a replica serves the file its mount holds,
//! found under its root (`$MERIDIAN_ROOT`), and a new revision of the ConfigMap updates the
//! running replica's file in place.

mod observe_support;

use std::time::Duration;

use observe_support::{Up, app_dir, eventually, gateway_route, get, tool};

/// A Service and a Deployment whose replica serves `$MERIDIAN_ROOT/srv/site` (a ConfigMap
/// volume) with Python's file server, and the ConfigMap holding `greeting`.
fn app(greeting: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: site
data:
  index.html: "{greeting}"
  extra.txt: "not mounted"
---
apiVersion: v1
kind: Service
metadata:
  name: site
spec:
  selector:
    app: site
  ports:
  - port: 80
    name: http
    targetPort: 3000
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: site
spec:
  replicas: 1
  selector:
    matchLabels:
      app: site
  template:
    metadata:
      labels:
        app: site
    spec:
      containers:
      - name: site
        command: ["python3", "-m", "http.server", "$(PORT)", "--bind", "127.0.0.1", "--directory", "$(MERIDIAN_ROOT)/srv/site"]
        ports:
        - containerPort: 3000
        readinessProbe:
          httpGet: {{path: /index.html, port: 3000}}
          periodSeconds: 1
        volumeMounts:
        - name: content
          mountPath: /srv/site
          readOnly: true
      volumes:
      - name: content
        configMap:
          name: site
          defaultMode: 0444
          items:
          - key: index.html
            path: index.html
---
{}"#,
        gateway_route("site", "site.example.com", "site")
    )
}

#[test]
fn a_replica_reads_its_config_map_volume_and_a_new_revision_updates_it() {
    if tool("python3", "apt-get install python3").is_none() {
        return;
    }
    let tmp = app_dir("app.yaml", &app("hello from a volume"));
    let up = Up::start(tmp.path(), "app", &[]);
    up.wait_ready(&[("site", 1)]);
    let fetch = |path: &str| get(&up.gateway, path, &[("Host", "site.example.com")]);
    assert_eq!(
        fetch("/index.html"),
        (200, "hello from a volume".to_owned())
    );
    // Only the listed item is mounted.
    assert_eq!(fetch("/extra.txt").0, 404);

    // The files are in the replica's root, with the volume's mode.
    let root = tmp.path().join(".meridian/replicas");
    let replica = std::fs::read_dir(&root)
        .expect("replica roots")
        .flatten()
        .next()
        .expect("a replica root")
        .path();
    let file = replica.join("srv/site/index.html");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file)
            .expect("the mounted file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o444, "{}", file.display());

    // A new revision of the ConfigMap updates the running replica's files in place, as the
    // kubelet updates a mounted ConfigMap: the same replica serves the new content.
    let pid = |up: &Up| {
        up.ready_replicas("site")
            .first()
            .and_then(|r| r["pid"].as_u64())
            .expect("a ready replica")
    };
    let before = pid(&up);
    std::fs::write(tmp.path().join("app/app.yaml"), app("changed")).expect("rewrite");
    eventually("the new content is served", Duration::from_secs(60), || {
        (fetch("/index.html") == (200, "changed".to_owned())).then_some(())
    });
    assert_eq!(pid(&up), before, "the replica was not replaced");
    assert_eq!(
        std::fs::read_to_string(&file).expect("the mounted file"),
        "changed"
    );
}
