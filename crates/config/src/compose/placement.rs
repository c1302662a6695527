//! Swarm placement constraints: `<attribute> == <value>` and `!=`, on `node.id`,
//! `node.hostname`, `node.role`, `node.platform.os|arch`, `node.labels.<key>` and
//! `engine.labels.<key>`.

use super::model::{Condition, Constraint, ConstraintOp, NodeAttribute};
use crate::diag::did_you_mean;

/// Why a constraint does not parse, with the likely fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConstraintError {
    pub(crate) message: String,
    pub(crate) hint: String,
}

const ATTRIBUTES: &[&str] = &[
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
    "node.labels.<key>",
    "engine.labels.<key>",
];

/// Parses one constraint. `a == x || b == y` is read as alternatives (see [`Constraint`]).
pub(crate) fn parse_constraint(text: &str) -> Result<Constraint, ConstraintError> {
    let any_of = text
        .split("||")
        .map(|part| condition(part.trim(), text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Constraint {
        text: text.to_owned(),
        any_of,
    })
}

fn condition(part: &str, whole: &str) -> Result<Condition, ConstraintError> {
    let eq = part.find("==");
    let ne = part.find("!=");
    let (at, op) = match (eq, ne) {
        (Some(e), Some(n)) if n < e => (n, ConstraintOp::Ne),
        (Some(e), _) => (e, ConstraintOp::Eq),
        (None, Some(n)) => (n, ConstraintOp::Ne),
        (None, None) => {
            // The hint shows the fix on the user's own attribute.
            let attribute = part
                .split_whitespace()
                .next()
                .filter(|a| a.starts_with("node.") || a.starts_with("engine."))
                .unwrap_or("node.labels.region");
            return Err(ConstraintError {
                message: format!("constraint \"{whole}\" has no == or != operator"),
                hint: format!("write it as {attribute} == VALUE"),
            });
        }
    };
    let key = part[..at].trim();
    let value = part[at + 2..].trim();
    if value.is_empty() || value.contains("==") || value.contains("!=") {
        return Err(ConstraintError {
            message: format!("constraint \"{whole}\" has an invalid value \"{value}\""),
            hint: "one attribute, one operator, one value: node.labels.region == us-east".into(),
        });
    }
    let attribute = match key {
        "node.id" => NodeAttribute::Id,
        "node.hostname" => NodeAttribute::Hostname,
        "node.role" => NodeAttribute::Role,
        "node.platform.os" => NodeAttribute::PlatformOs,
        "node.platform.arch" => NodeAttribute::PlatformArch,
        k => {
            if let Some(l) = k.strip_prefix("node.labels.").filter(|l| !l.is_empty()) {
                NodeAttribute::Label(l.to_owned())
            } else if let Some(l) = k.strip_prefix("engine.labels.").filter(|l| !l.is_empty()) {
                NodeAttribute::EngineLabel(l.to_owned())
            } else {
                let hint = if let Some(l) = k.strip_prefix("node.label.") {
                    format!("did you mean \"node.labels.{l}\"?")
                } else if let Some(c) =
                    did_you_mean(k, ATTRIBUTES.iter().copied().filter(|a| !a.contains('<')))
                {
                    format!("did you mean \"{c}\"?")
                } else {
                    format!("one of: {}", ATTRIBUTES.join(", "))
                };
                return Err(ConstraintError {
                    message: format!("unknown constraint attribute \"{k}\""),
                    hint,
                });
            }
        }
    };
    if attribute == NodeAttribute::Role && !matches!(value, "manager" | "worker") {
        return Err(ConstraintError {
            message: format!("node.role is \"manager\" or \"worker\", not \"{value}\""),
            hint: "node.role == manager".into(),
        });
    }
    Ok(Condition {
        attribute,
        op,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_swarm_constraints() {
        let c = parse_constraint("node.labels.region == us-east").expect("valid");
        assert_eq!(c.any_of.len(), 1);
        assert_eq!(c.any_of[0].attribute, NodeAttribute::Label("region".into()));
        assert_eq!(c.any_of[0].op, ConstraintOp::Eq);
        assert_eq!(c.any_of[0].value, "us-east");
        let c = parse_constraint("node.role!=manager").expect("valid");
        assert_eq!(c.any_of[0].op, ConstraintOp::Ne);
        assert_eq!(c.any_of[0].to_string(), "node.role != manager");
    }

    #[test]
    fn reads_the_course_or_form_as_alternatives() {
        let c = parse_constraint("node.labels.region == us-east || node.labels.region == eu-west")
            .expect("valid");
        let values: Vec<&str> = c.any_of.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["us-east", "eu-west"]);
    }

    #[test]
    fn explains_bad_constraints() {
        let Err(e) = parse_constraint("node.label.region == x") else {
            panic!("a typo must be refused");
        };
        assert_eq!(e.hint, "did you mean \"node.labels.region\"?");
        assert!(parse_constraint("node.hostname").is_err());
        assert!(parse_constraint("node.role == boss").is_err());
        assert!(parse_constraint("node.hostname == a == b").is_err());
    }

    #[test]
    fn ne_holds_without_the_label() {
        let c = parse_constraint("node.labels.disk != hdd").expect("valid");
        assert!(c.any_of[0].holds(None));
        assert!(!c.any_of[0].holds(Some("hdd")));
    }
}
