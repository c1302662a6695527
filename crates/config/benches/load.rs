//! Parsing and validating 10,000 resources (the bar: well under a second in release).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_config::{LoadOptions, load_str};

/// 2,500 services, each with a Deployment, a DestinationRule with two subsets and a canary
/// VirtualService: 10,000 documents.
fn manifests() -> String {
    let mut s = String::new();
    for i in 0..2_500 {
        s.push_str(&format!(
            "apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, labels: {{app: svc-{i}}}}}
spec:
  selector: {{app: svc-{i}}}
  ports: [{{name: http, port: 80, targetPort: 3000}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: svc-{i}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: svc-{i}, version: v1}}}}
  template:
    metadata: {{labels: {{app: svc-{i}, version: v1}}}}
    spec:
      containers:
      - name: app
        command: [meridian, demo-app]
        ports: [{{containerPort: 3000}}]
        readinessProbe: {{httpGet: {{path: /readyz, port: 3000}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc-{i}}}
spec:
  host: svc-{i}
  trafficPolicy:
    loadBalancer: {{simple: LEAST_REQUEST}}
    outlierDetection: {{consecutive5xxErrors: 3, interval: 30s, baseEjectionTime: 30s}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc-{i}}}
spec:
  hosts: [svc-{i}]
  http:
  - match: [{{headers: {{user-type: {{exact: premium}}}}}}]
    route: [{{destination: {{host: svc-{i}, subset: v2}}}}]
  - route:
    - {{destination: {{host: svc-{i}, subset: v1}}, weight: 90}}
    - {{destination: {{host: svc-{i}, subset: v2}}, weight: 10}}
    retries: {{attempts: 2, retryOn: \"5xx,connect-failure\"}}
    timeout: 2s
---
"
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = manifests();
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("10k_resources", |b| {
        b.iter(|| {
            let bundle = load_str(
                Path::new("bench.yaml"),
                black_box(&text),
                LoadOptions::default(),
            );
            assert!(bundle.is_valid());
            black_box(bundle.docs.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
