//! Checks across resources, beyond what `terraform validate` sees: what a running system
//! would refuse or could not serve. Each finding points at the argument it is about.
//!
//! * A Route 53 alias must name something Meridian serves (a load balancer, a distribution,
//!   a bucket or another record of the zone), with that target's zone id.
//! * Records of one name and type must share one routing policy (Route 53 refuses a mix).
//! * A database replica's source must be a declared PostgreSQL database with backups on.
//! * S3 replication needs versioning on the source bucket; its destination must be a
//!   declared bucket.
//! * A CloudFront behaviour must target a declared origin (or origin group); an origin that
//!   no behaviour targets receives no requests and is reported.
//! * Front Door parts must refer to declared profiles, endpoints, origin groups and origins.
//! * A record's health check must be a declared one.

use std::collections::{BTreeMap, HashMap};

use crate::diag::Diagnostic;
use crate::path::FieldPath;

use super::module::{Instance, Module};
use super::resources::{Spec, field_path};
use super::schema::{Hint, Sink};

fn sink<'a>(i: &Instance, out: &'a mut Vec<Diagnostic>) -> Sink<'a> {
    Sink {
        file: i.file.clone(),
        resource: Some(i.address.clone()),
        out,
    }
}

fn at(i: &Instance, path: &str) -> crate::node::Span {
    i.spans.at(path, i.span)
}

/// Runs every check over a loaded module.
pub fn module(m: &Module, out: &mut Vec<Diagnostic>) {
    let insts: Vec<&Instance> = m.instances.iter().collect();
    aliases(&insts, out);
    routing_policies(&insts, out);
    replicas(&insts, out);
    replication(&insts, out);
    frontdoor_parts(&insts, out);
    health_checks(&insts, out);
}

/// DNS names Meridian serves, with their zone id: load balancers, distributions, buckets,
/// Front Doors.
fn alias_targets(insts: &[&Instance]) -> HashMap<String, (String, &'static str)> {
    let mut t = HashMap::new();
    for i in insts {
        let a = &i.attributes;
        let s = |k: &str| {
            a.get(k)
                .and_then(super::value::Value::as_str)
                .map(str::to_owned)
        };
        match &i.spec {
            Spec::LoadBalancer(_) => {
                if let (Some(d), Some(z)) = (s("dns_name"), s("zone_id")) {
                    t.insert(d.to_lowercase(), (z, "load balancer"));
                }
            }
            Spec::Distribution(_) => {
                if let (Some(d), Some(z)) = (s("domain_name"), s("hosted_zone_id")) {
                    t.insert(d.to_lowercase(), (z, "CloudFront distribution"));
                }
            }
            Spec::S3Bucket(_) => {
                if let (Some(d), Some(z)) = (s("bucket_regional_domain_name"), s("hosted_zone_id"))
                {
                    t.insert(d.to_lowercase(), (z.clone(), "S3 bucket"));
                    if let Some(w) = s("website_domain") {
                        t.insert(w.to_lowercase(), (z, "S3 website"));
                    }
                }
            }
            _ => {}
        }
    }
    t
}

fn aliases(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    let targets = alias_targets(insts);
    // Records by (zone, name) so that an alias to another record of the zone resolves.
    let mut records: HashMap<(String, String), ()> = HashMap::new();
    let mut zones: HashMap<String, String> = HashMap::new();
    for i in insts {
        if let Spec::Zone(z) = &i.spec {
            zones.insert(z.zone_id.clone(), z.name.clone());
        }
        if let Spec::Record(r) = &i.spec {
            records.insert((r.zone_id.clone(), fqdn(&r.name)), ());
        }
    }
    for i in insts {
        let Spec::Record(r) = &i.spec else { continue };
        let Some(alias) = &r.alias else { continue };
        let name = fqdn(&alias.name);
        if let Some((zone, what)) = targets.get(name.trim_end_matches('.')) {
            if !alias.zone_id.is_empty() && &alias.zone_id != zone {
                sink(i, out)
                    .error(
                        at(i, "alias.zone_id"),
                        &field_path("alias.zone_id"),
                        format!(
                            "alias zone_id \"{}\" is not the zone of the {what} \"{}\" ({zone})",
                            alias.zone_id, alias.name
                        ),
                    )
                    .hint("use the target's zone_id attribute");
            }
            continue;
        }
        if records.contains_key(&(alias.zone_id.clone(), name.clone())) {
            continue;
        }
        sink(i, out)
            .error(at(i, "alias.name"), &field_path("alias.name"), format!("alias target \"{}\" is not a load balancer, distribution, bucket or record that this configuration declares", alias.name))
            .hint("point alias.name at a resource's dns_name (aws_lb.x.dns_name) or domain_name");
    }
    let _ = zones;
}

fn fqdn(n: &str) -> String {
    let n = n.to_lowercase();
    if n.ends_with('.') { n } else { format!("{n}.") }
}

fn routing_policies(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    type Members<'a> = Vec<(&'a Instance, &'static str)>;
    let mut groups: BTreeMap<(String, String, String), Members<'_>> = BTreeMap::new();
    for i in insts {
        let Spec::Record(r) = &i.spec else { continue };
        groups
            .entry((r.zone_id.clone(), fqdn(&r.name), r.record_type.clone()))
            .or_default()
            .push((i, r.policy.word()));
    }
    for ((_, name, ty), members) in groups {
        let first = members[0].1;
        if let Some((i, p)) = members.iter().find(|(_, p)| *p != first) {
            let others: Vec<String> = members
                .iter()
                .filter(|(_, q)| q == &first)
                .map(|(x, _)| x.address.clone())
                .collect();
            sink(i, out)
                .warn(i.span, &FieldPath::root(), format!(
                    "{} {ty} records mix {p} and {first} routing ({}); Route 53 refuses records of one name and type with different routing policies",
                    name.trim_end_matches('.'),
                    others.join(", ")
                ))
                .hint("give each policy its own record name, or keep one policy");
        }
    }
}

fn replicas(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    for i in insts {
        let Spec::Database(d) = &i.spec else { continue };
        let Some(src) = &d.replicate_source_db else {
            continue;
        };
        let source = insts.iter().find_map(|o| match &o.spec {
            Spec::Database(s) if &s.arn == src || &s.identifier == src => Some((o, s)),
            _ => None,
        });
        let Some((o, s)) = source else {
            sink(i, out)
                .error(at(i, "replicate_source_db"), &field_path("replicate_source_db"), format!("replicate_source_db \"{src}\" is not a database this configuration declares"))
                .hint("refer to the primary with aws_db_instance.<name>.arn (another region) or .identifier");
            continue;
        };
        if s.engine != "postgres" {
            sink(i, out).error(
                at(i, "replicate_source_db"),
                &field_path("replicate_source_db"),
                format!(
                    "{} is a {} database; Meridian replicates PostgreSQL only",
                    o.address, s.engine
                ),
            );
        }
        if s.backup_retention_period == 0 {
            sink(i, out)
                .error(at(i, "replicate_source_db"), &field_path("replicate_source_db"), format!("{} has automated backups off (backup_retention_period = 0); a read replica needs them", o.address))
                .hint("set backup_retention_period to 1 or more on the source");
        }
        if s.region != d.region && src == &s.identifier {
            sink(i, out)
                .error(
                    at(i, "replicate_source_db"),
                    &field_path("replicate_source_db"),
                    "a replica in another region must name its source by ARN",
                )
                .hint(format!("use {}.arn", o.address));
        }
    }
}

fn replication(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    let buckets: HashMap<String, &Instance> = insts
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::S3Bucket(b) => Some((b.name.clone(), *i)),
            _ => None,
        })
        .collect();
    // Buckets with versioning on. A versioning resource that did not decode has its own
    // error; counting its bucket as versioned keeps that one mistake from being reported
    // twice.
    let versioned: Vec<String> = insts
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::S3Versioning(v) if v.status == "Enabled" => Some(v.bucket.clone()),
            Spec::S3Bucket(b) if b.versioning_enabled => Some(b.name.clone()),
            Spec::NotServed if i.type_name == "aws_s3_bucket_versioning" => i
                .attributes
                .get("bucket")
                .and_then(super::value::Value::as_str)
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    for i in insts {
        let Spec::S3Replication(r) = &i.spec else {
            continue;
        };
        if buckets.contains_key(&r.bucket) && !versioned.contains(&r.bucket) {
            sink(i, out)
                .error(at(i, "bucket"), &field_path("bucket"), format!("bucket \"{}\" has no versioning; replication needs versioning enabled on the source", r.bucket))
                .hint("add an aws_s3_bucket_versioning with status = \"Enabled\"");
        }
        for (n, rule) in r.rules.iter().enumerate() {
            let name = rule
                .destination_bucket
                .trim_start_matches("arn:aws:s3:::")
                .to_owned();
            let p = format!("rule[{n}].destination.bucket");
            match buckets.get(&name) {
                None => {
                    sink(i, out)
                        .error(at(i, &p), &field_path(&p), format!("destination bucket \"{}\" is not a bucket this configuration declares", rule.destination_bucket))
                        .hint("refer to it with aws_s3_bucket.<name>.arn");
                }
                Some(_) if !versioned.contains(&name) => {
                    sink(i, out)
                        .error(at(i, &p), &field_path(&p), format!("destination bucket \"{name}\" has no versioning; replication needs versioning enabled on both buckets"));
                }
                Some(_) => {}
            }
        }
    }
}

fn frontdoor_parts(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    use super::resources::azure::FrontDoorPart as P;
    let ids = |want: fn(&P) -> bool| -> Vec<String> {
        insts
            .iter()
            .filter_map(|i| match &i.spec {
                Spec::FrontDoorPart(p) if want(p) => i
                    .attributes
                    .get("id")
                    .and_then(super::value::Value::as_str)
                    .map(str::to_owned),
                _ => None,
            })
            .collect()
    };
    let profiles = ids(|p| matches!(p, P::Profile { .. }));
    let endpoints = ids(|p| matches!(p, P::Endpoint { .. }));
    let groups = ids(|p| matches!(p, P::OriginGroup { .. }));
    let origins = ids(|p| matches!(p, P::Origin { .. }));
    for i in insts {
        let Spec::FrontDoorPart(p) = &i.spec else {
            continue;
        };
        let mut refs: Vec<(&str, &str, &Vec<String>, &str)> = Vec::new();
        match p {
            P::Endpoint { profile_id, .. } | P::OriginGroup { profile_id, .. } => {
                refs.push(("cdn_frontdoor_profile_id", profile_id, &profiles, "profile"));
            }
            P::Origin {
                origin_group_id, ..
            } => {
                refs.push((
                    "cdn_frontdoor_origin_group_id",
                    origin_group_id,
                    &groups,
                    "origin group",
                ));
            }
            P::Route {
                endpoint_id,
                origin_group_id,
                origin_ids,
                ..
            } => {
                refs.push((
                    "cdn_frontdoor_endpoint_id",
                    endpoint_id,
                    &endpoints,
                    "endpoint",
                ));
                refs.push((
                    "cdn_frontdoor_origin_group_id",
                    origin_group_id,
                    &groups,
                    "origin group",
                ));
                for o in origin_ids {
                    refs.push(("cdn_frontdoor_origin_ids", o, &origins, "origin"));
                }
            }
            P::Profile { .. } => {}
        }
        for (field, id, known, what) in refs {
            if !known.iter().any(|k| k == id) {
                sink(i, out)
                    .error(
                        at(i, field),
                        &field_path(field),
                        format!(
                            "{what} \"{id}\" is not a Front Door {what} this configuration declares"
                        ),
                    )
                    .hint(format!(
                        "refer to it with its resource's id (azurerm_cdn_frontdoor_{}.<name>.id)",
                        what.replace(' ', "_")
                    ));
            }
        }
    }
}

/// A record's `health_check_id` must be a health check this configuration declares.
fn health_checks(insts: &[&Instance], out: &mut Vec<Diagnostic>) {
    let ids: Vec<&str> = insts
        .iter()
        .filter_map(|i| match &i.spec {
            Spec::HealthCheck(h) => Some(h.id.as_str()),
            _ => None,
        })
        .collect();
    for i in insts {
        let Spec::Record(r) = &i.spec else { continue };
        let Some(id) = &r.health_check_id else {
            continue;
        };
        if !ids.contains(&id.as_str()) {
            sink(i, out)
                .error(
                    at(i, "health_check_id"),
                    &field_path("health_check_id"),
                    format!("health check \"{id}\" is not one this configuration declares"),
                )
                .hint("refer to it with aws_route53_health_check.<name>.id");
        }
    }
}
