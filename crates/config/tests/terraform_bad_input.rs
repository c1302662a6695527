//! Hostile or broken Terraform gets a clear error, in bounded time and memory, never a panic.

use std::path::Path;
use std::time::Instant;

use meridian_config::terraform::{self, CliInputs, Loaded, Options};
use meridian_config::{LoadOptions, load_paths};

fn opts() -> Options {
    Options {
        inputs: CliInputs {
            env: Some(Default::default()),
            ..CliInputs::default()
        },
        ..Options::default()
    }
}

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    dir
}

/// The errors, with the folder's path shortened.
fn errors(dir: &Path, l: &Loaded) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    l.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

#[test]
fn a_100_mb_tf_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = std::fs::File::create(dir.path().join("huge.tf")).expect("create");
    // Sparse: 100 MB on paper, nothing on disk.
    f.set_len(100 * 1024 * 1024).expect("set_len");
    let bundle = load_paths(&[dir.path().to_path_buf()], LoadOptions::default());
    let errs: Vec<String> = bundle
        .diagnostics()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].ends_with(
            "huge.tf:1:1: file is 100.0 MiB, larger than the 16 MiB limit for a Terraform file"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn deep_nesting_is_a_syntax_error_at_its_position() {
    let deep = format!(
        "locals {{\n  a = {}1{}\n}}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let dir = folder(&[("main.tf", &deep)]);
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec!["main.tf:2:71: invalid nesting depth; expected at most 64 nested levels"]
    );
    let json = format!(
        "{{\"locals\": {{\"a\": {}1{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let dir = folder(&[("main.tf.json", &json)]);
    let l = terraform::load_dir(dir.path(), &opts());
    let e = errors(dir.path(), &l);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("main.tf.json:1:") && e[0].ends_with("nesting deeper than 64 levels"),
        "{e:?}"
    );
}

#[test]
fn a_million_element_for_each_is_refused_quickly() {
    // A variables file holding a million keys.
    let mut tfvars = String::from("items = [");
    for i in 0..1_000_000 {
        tfvars.push_str(&i.to_string());
        tfvars.push(',');
    }
    tfvars.push_str("]\n");
    let main = "variable \"items\" {\n  type = list(number)\n}\n\nresource \"aws_s3_bucket\" \"b\" {\n  for_each = toset([for i in var.items : tostring(i)])\n  bucket   = \"b-${each.key}\"\n}\n";
    let dir = folder(&[("main.tf", main), ("terraform.tfvars", &tfvars)]);
    let started = Instant::now();
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec![
            "terraform.tfvars:1:9: items: a collection of 1000000 elements is larger than the limit of 100000"
        ]
    );
    // Not a timing assertion on the happy path: only catches a limit that stopped working.
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn a_million_element_collection_built_in_hcl_stops_at_the_limit() {
    let main = "resource \"aws_s3_bucket\" \"b\" {\n  for_each = toset(flatten([for i in range(1000) : [for j in range(1000) : \"${i}-${j}\"]]))\n  bucket   = \"b-${each.key}\"\n}\n";
    let dir = folder(&[("main.tf", main)]);
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec![
            "main.tf:2:20: aws_s3_bucket.b: for_each: a collection of 100001 elements is larger than the limit of 100000"
        ]
    );
}

#[test]
fn more_instances_than_the_limit_are_refused() {
    let main = "resource \"aws_s3_bucket\" \"b\" {\n  for_each = toset(flatten([for i in range(20) : [for j in range(1000) : \"${i}-${j}\"]]))\n  bucket   = \"b-${each.key}\"\n}\n";
    let dir = folder(&[("main.tf", main)]);
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec![
            "main.tf:2:14: aws_s3_bucket.b: for_each: for_each has 20000 elements; at most 10000 instances of one resource are accepted"
        ]
    );
}

#[test]
fn recursive_locals_are_a_cycle_not_a_hang() {
    let dir = folder(&[(
        "main.tf",
        "locals {\n  a = local.a + 1\n  b = local.c\n  c = [local.b]\n}\n",
    )]);
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec![
            "main.tf:2:7: local.a: local.a refers to itself (break the cycle: a value cannot depend on itself, directly or through others)",
            "main.tf:3:7: local.b: cycle: local.b → local.c → local.b (break the cycle: a value cannot depend on itself, directly or through others)",
        ]
    );
}

#[test]
fn templates_and_files_outside_the_folder_are_refused() {
    let outer = folder(&[("secret.txt", "s3cr3t")]);
    let dir = outer.path().join("cfg");
    std::fs::create_dir(&dir).expect("mkdir");
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), dir.join("link.txt"))
        .expect("symlink");
    std::fs::write(
        dir.join("main.tf"),
        "locals {\n  a = templatefile(\"../secret.txt\", {})\n  b = file(\"link.txt\")\n  c = file(\"/etc/hostname\")\n}\n",
    )
    .expect("write");
    let l = terraform::load_dir(&dir, &opts());
    let e = errors(&dir, &l);
    assert_eq!(e.len(), 3, "{e:?}");
    for (line, call, path) in [
        (2, "templatefile", "../secret.txt"),
        (3, "file", "link.txt"),
        (4, "file", "/etc/hostname"),
    ] {
        assert!(
            e.iter().any(|m| m.starts_with(&format!("main.tf:{line}:"))
                && m.contains(&format!(
                    "{call}: \"{path}\" is outside the configuration folder"
                ))),
            "{e:?}"
        );
    }
}

#[test]
fn runaway_computation_and_huge_strings_stop_at_their_limits() {
    let mut o = opts();
    o.limits.max_steps = 200_000;
    let dir = folder(&[(
        "main.tf",
        "locals {\n  grid = [for a in range(1000) : [for b in range(1000) : a * b]]\n}\n",
    )]);
    let l = terraform::load_dir(dir.path(), &o);
    let e = errors(dir.path(), &l);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("evaluation stopped after 200000 steps; the configuration computes too much"),
        "{e:?}"
    );

    let mut o = opts();
    o.limits.max_string = 1_000_000;
    let dir = folder(&[(
        "main.tf",
        "locals {\n  big = join(\"\", [for i in range(1000) : join(\"\", [for j in range(1000) : \"xx\"])])\n}\n",
    )]);
    let l = terraform::load_dir(dir.path(), &o);
    let e = errors(dir.path(), &l);
    assert_eq!(
        e,
        vec![
            "main.tf:2:9: local.big: a string of 2000000 bytes is larger than the limit of 1000000 bytes"
        ]
    );
}

#[test]
fn a_module_that_calls_itself_is_refused() {
    let dir = folder(&[
        ("main.tf", "module \"loop\" {\n  source = \"./m\"\n}\n"),
        ("m/main.tf", "module \"again\" {\n  source = \"../m\"\n}\n"),
    ]);
    let l = terraform::load_dir(dir.path(), &opts());
    assert_eq!(
        errors(dir.path(), &l),
        vec![
            "m/main.tf:2:12: module.loop.module.again: source: module calls itself (through its source folder)"
        ]
    );
}

#[test]
fn garbage_bytes_and_odd_shapes_never_panic() {
    for text in [
        "resource",
        "resource \"a\" {",
        "}}}",
        "x = ${",
        "locals { a = \"${\" }",
        "resource \"aws_s3_bucket\" \"b\" { dynamic \"x\" {} }",
        "resource \"aws_s3_bucket\" \"b\" { count = 1e300 }",
        "locals { a = [for x in {} : x][0] }",
        "locals { a = 1 / 0 }",
        "output \"o\" { value = <<EOT\nunterminated",
        "variable \"v\" { type = map(object({a = optional(list(set(tuple([string])))) })) }",
        "{\"resource\": [1, 2, {\"aws_s3_bucket\": []}]}",
    ] {
        let name = if text.starts_with('{') {
            "main.tf.json"
        } else {
            "main.tf"
        };
        let dir = folder(&[(name, text)]);
        let l = terraform::load_dir(dir.path(), &opts());
        for d in &l.diagnostics {
            let _ = d.to_string();
        }
    }
}
