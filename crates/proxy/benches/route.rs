//! Route matching cost: virtual host lookup plus first-match rule selection on the course's
//! VirtualService and on a 50-rule table, as a request on the hot path pays it.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use meridian_config::{LoadOptions, load_str};
use meridian_control::snapshot::{RequestView, Snapshot, compile};

const COURSE: &str = include_str!("../../../examples/mesh/virtualservice.yaml");
const APP: &str = include_str!("../../../examples/mesh/app-deployment.yaml");

fn snapshot(yaml: &str) -> Snapshot {
    let bundle = load_str(Path::new("bench.yaml"), yaml, LoadOptions::default());
    match compile(&bundle, 1) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn many_rules() -> String {
    let mut y = String::from(APP);
    y.push_str("\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: myapp}\nspec:\n  hosts: [myapp]\n  http:\n");
    for i in 0..49 {
        y.push_str(&format!(
            "  - match:\n    - uri: {{prefix: /api/v{i}/}}\n      headers: {{x-tenant: {{regex: \"t{i}-[a-z]+\"}}}}\n    route: [{{destination: {{host: myapp}}}}]\n"
        ));
    }
    y.push_str("  - route: [{destination: {host: myapp}}]\n");
    y
}

fn bench(c: &mut Criterion) {
    let labels = BTreeMap::new();
    let mut premium = HeaderMap::new();
    premium.insert(
        "user-type",
        "premium"
            .parse()
            .unwrap_or(http::HeaderValue::from_static("x")),
    );
    let plain = HeaderMap::new();
    let view = |headers| RequestView {
        method: "GET",
        scheme: "http",
        authority: "myapp",
        path: "/api/v1/items",
        query: None,
        headers,
        port: 80,
        source_labels: &labels,
        source_namespace: "default",
    };
    let course = snapshot(&[APP, COURSE].join("\n---\n"));
    let table = course.mesh_table("default");
    c.bench_function("route/course/premium", |b| {
        b.iter(|| {
            let vh = table.lookup(black_box("myapp"));
            vh.and_then(|vh| course.route(vh, &view(black_box(&premium))))
                .map(|(r, _)| r.origin.index)
        })
    });
    c.bench_function("route/course/canary-fallthrough", |b| {
        b.iter(|| {
            let vh = table.lookup(black_box("myapp.default.svc.cluster.local"));
            vh.and_then(|vh| course.route(vh, &view(black_box(&plain))))
                .map(|(r, _)| r.origin.index)
        })
    });
    let many = snapshot(&many_rules());
    let table = many.mesh_table("default");
    c.bench_function("route/50-rules/last", |b| {
        b.iter(|| {
            let vh = table.lookup(black_box("myapp"));
            vh.and_then(|vh| many.route(vh, &view(black_box(&plain))))
                .map(|(r, _)| r.origin.index)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
