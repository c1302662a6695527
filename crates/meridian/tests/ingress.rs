//! Compose's published ports through a real `meridian up`, as Swarm's routing mesh: the port
//! listens on the node and connections spread over the service's ready replicas.

mod observe_support;

use std::collections::BTreeMap;

use observe_support::{Up, app_dir, get};

const COMPOSE: &str = r#"services:
  web:
    command: ["meridian", "demo-app", "--service", "web"]
    ports:
      - "9300:3000"
    deploy:
      replicas: 2
"#;

#[test]
fn published_ports_spread_connections_over_the_ready_replicas() {
    let tmp = app_dir("docker-compose.yml", COMPOSE);
    // The published port binds wherever --gateway-port says (here: any free port).
    let up = Up::start(tmp.path(), "app", &["--gateway-port", "9300=0"]);
    up.wait_ready(&[("web", 2)]);
    let line = up
        .banner
        .iter()
        .find(|l| l.contains("  published "))
        .unwrap_or_else(|| panic!("no published line in {:#?}", up.banner));
    assert!(line.contains("(port 9300 -> service web:3000)"), "{line}");
    let addr = line
        .split_whitespace()
        .nth(1)
        .expect("an address")
        .to_owned();
    let replica_of = |addr: &str| {
        let (status, body) = get(addr, "/", &[]);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["service"], "web", "{v}");
        v["replica"].as_str().expect("replica").to_owned()
    };
    // Without a readiness probe a replica is ready once started, as in Kubernetes, which can
    // be a moment before it listens; and readiness reaches the routing mesh a moment after
    // `ps` shows it. Wait (bounded) until both replicas have answered, then measure the
    // steady state.
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while seen.len() < 2 && std::time::Instant::now() < deadline {
        let (status, body) = get(&addr, "/", &[]);
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            seen.insert(v["replica"].as_str().expect("replica").to_owned());
        }
    }
    assert_eq!(seen.len(), 2, "both replicas answer within 30 s: {seen:?}");
    let mut replicas: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..20 {
        *replicas.entry(replica_of(&addr)).or_default() += 1;
    }
    assert!(
        replicas.values().all(|n| *n == 10),
        "round robin: {replicas:?}"
    );
}
