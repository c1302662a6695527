//! Loading 2,000 Terraform resources across 200 files (read, parse, evaluate in dependency
//! order, decode against the provider schemas, check across resources), next to the YAML
//! loader on 2,000 Kubernetes/Istio documents across 200 files, in the same run.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_config::terraform::{self, CliInputs, Options};
use meridian_config::{LoadOptions, load_paths};

/// Ten resources that refer to each other, the shape of the course's edge and global files.
fn tf_file(i: usize) -> String {
    format!(
        r#"
resource "aws_s3_bucket" "origin_{i}" {{
  bucket = "origin-{i}-example"
  tags   = {{ shard = "{i}" }}
}}

resource "aws_s3_bucket_versioning" "origin_{i}" {{
  bucket = aws_s3_bucket.origin_{i}.id
  versioning_configuration {{
    status = "Enabled"
  }}
}}

resource "aws_s3_bucket_public_access_block" "origin_{i}" {{
  bucket                  = aws_s3_bucket.origin_{i}.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}}

resource "aws_cloudfront_origin_access_control" "oac_{i}" {{
  name                              = "oac-{i}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}}

resource "aws_cloudfront_distribution" "cdn_{i}" {{
  enabled             = true
  default_root_object = "index.html"
  origin {{
    domain_name              = aws_s3_bucket.origin_{i}.bucket_regional_domain_name
    origin_id                = "S3-${{aws_s3_bucket.origin_{i}.id}}"
    origin_access_control_id = aws_cloudfront_origin_access_control.oac_{i}.id
  }}
  default_cache_behavior {{
    allowed_methods        = ["GET", "HEAD", "OPTIONS"]
    cached_methods         = ["GET", "HEAD"]
    target_origin_id       = "S3-${{aws_s3_bucket.origin_{i}.id}}"
    viewer_protocol_policy = "redirect-to-https"
    forwarded_values {{
      query_string = false
      cookies {{
        forward = "none"
      }}
    }}
    default_ttl = 3600
  }}
  restrictions {{
    geo_restriction {{
      restriction_type = "none"
    }}
  }}
  viewer_certificate {{
    cloudfront_default_certificate = true
  }}
}}

resource "aws_route53_record" "cdn_{i}" {{
  zone_id = aws_route53_zone.main.zone_id
  name    = "cdn-{i}.example.com"
  type    = "A"
  alias {{
    name                   = aws_cloudfront_distribution.cdn_{i}.domain_name
    zone_id                = aws_cloudfront_distribution.cdn_{i}.hosted_zone_id
    evaluate_target_health = false
  }}
}}

resource "aws_lb" "lb_{i}" {{
  name = "lb-{i}"
}}

resource "aws_lb_target_group" "tg_{i}" {{
  name     = "tg-{i}"
  port     = 8080
  protocol = "HTTP"
  vpc_id   = aws_lb.lb_{i}.vpc_id
  health_check {{
    path = "/readyz"
  }}
}}

resource "aws_lb_listener" "http_{i}" {{
  load_balancer_arn = aws_lb.lb_{i}.arn
  port              = 80
  protocol          = "HTTP"
  default_action {{
    type             = "forward"
    target_group_arn = aws_lb_target_group.tg_{i}.arn
  }}
}}

resource "aws_dynamodb_table" "t_{i}" {{
  name         = "table-{i}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {{
    name = "pk"
    type = "S"
  }}
}}
"#
    )
}

/// Ten documents: two services, each with a Deployment, a DestinationRule with two subsets
/// and a canary VirtualService, plus two more Services.
fn yaml_file(i: usize) -> String {
    let mut s = String::new();
    for k in 0..2 {
        let n = format!("svc-{i}-{k}");
        s.push_str(&format!(
            "apiVersion: v1
kind: Service
metadata: {{name: {n}, labels: {{app: {n}}}}}
spec:
  selector: {{app: {n}}}
  ports: [{{name: http, port: 80, targetPort: 3000}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {n}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {n}, version: v1}}}}
  template:
    metadata: {{labels: {{app: {n}, version: v1}}}}
    spec:
      containers:
      - name: app
        command: [meridian, demo-app]
        ports: [{{containerPort: 3000}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {n}}}
spec:
  host: {n}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {n}}}
spec:
  hosts: [{n}]
  http:
  - route:
    - {{destination: {{host: {n}, subset: v1}}, weight: 90}}
    - {{destination: {{host: {n}, subset: v2}}, weight: 10}}
---
"
        ));
    }
    for k in 2..4 {
        let n = format!("svc-{i}-{k}");
        s.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {n}}}\nspec: {{ports: [{{port: 80}}]}}\n---\n"
        ));
    }
    s
}

fn write_tf(dir: &Path) {
    std::fs::write(
        dir.join("main.tf"),
        "provider \"aws\" {\n  region = \"us-east-1\"\n}\n\nresource \"aws_route53_zone\" \"main\" {\n  name = \"example.com\"\n}\n",
    )
    .expect("write");
    for i in 0..200 {
        std::fs::write(dir.join(format!("shard-{i:03}.tf")), tf_file(i)).expect("write");
    }
}

fn bench(c: &mut Criterion) {
    let tf = tempfile::tempdir().expect("tempdir");
    write_tf(tf.path());
    let yaml = tempfile::tempdir().expect("tempdir");
    for i in 0..200 {
        std::fs::write(yaml.path().join(format!("shard-{i:03}.yaml")), yaml_file(i))
            .expect("write");
    }
    let opts = Options {
        inputs: CliInputs {
            env: Some(Default::default()),
            ..CliInputs::default()
        },
        ..Options::default()
    };
    // Both loads must be clean, or the comparison means nothing.
    let l = terraform::load_dir(tf.path(), &opts);
    assert!(
        l.diagnostics.is_empty(),
        "{:?}",
        l.diagnostics.first().map(ToString::to_string)
    );
    let served = l.module.as_ref().map_or(0, |m| m.instances.len());
    assert_eq!(served, 2001);
    let b = load_paths(&[yaml.path().to_path_buf()], LoadOptions::default());
    assert!(b.is_valid());
    assert_eq!(b.docs.len(), 2000);

    let mut group = c.benchmark_group("load_2000_resources_200_files");
    group.sample_size(10);
    group.bench_function("terraform", |bch| {
        bch.iter(|| {
            let l = terraform::load_dir(black_box(tf.path()), &opts);
            black_box(l.diagnostics.len())
        });
    });
    group.bench_function("yaml", |bch| {
        bch.iter(|| {
            let b = load_paths(
                &[black_box(yaml.path().to_path_buf())],
                LoadOptions::default(),
            );
            black_box(b.docs.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
