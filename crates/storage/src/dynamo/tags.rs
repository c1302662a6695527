//! Tags on tables: TagResource, UntagResource, ListTagsOfResource, addressed by the table's
//! ARN as DynamoDB addresses them, with its limits (keys of 1 to 128 characters, values of
//! at most 256, 50 tags per table; `aws:` keys are AWS's own).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Dynamo;
use super::error::Error;
use super::input::Input;
use super::table::{TableDef, parse_table_arn};

/// The most tags a table may carry.
pub(crate) const MAX_TAGS: usize = 50;

/// Whether a tag key or value uses only what DynamoDB allows: letters, numbers, spaces and
/// `_ . : / = + - @`.
fn allowed_tag_text(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    })
}

const TAG_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";

/// Reads a `Tags` list (TagResource, CreateTable), recording each constraint a tag breaks as
/// DynamoDB's validation does.
pub(crate) fn read_tags(
    input: &mut Input<'_>,
    given: Option<&Vec<Value>>,
) -> Vec<(String, String)> {
    let mut new = Vec::new();
    for (i, tag) in given.into_iter().flatten().enumerate() {
        let key = tag.get("Key").and_then(Value::as_str);
        let value = tag.get("Value").and_then(Value::as_str);
        match (key, value) {
            (Some(k), Some(v)) => {
                if k.is_empty() || k.chars().count() > 128 {
                    input.violation(format!("Value '{k}' at 'tags.{}.member.key' failed to satisfy constraint: Member must have length less than or equal to 128, Member must have length greater than or equal to 1", i + 1));
                } else if !allowed_tag_text(k) {
                    input.violation(format!("Value '{k}' at 'tags.{}.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_PATTERN}", i + 1));
                }
                if v.chars().count() > 256 {
                    input.violation(format!("Value '{v}' at 'tags.{}.member.value' failed to satisfy constraint: Member must have length less than or equal to 256", i + 1));
                } else if !allowed_tag_text(v) {
                    input.violation(format!("Value '{v}' at 'tags.{}.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_PATTERN}", i + 1));
                }
                new.push((k.to_owned(), v.to_owned()));
            }
            (None, _) => input.violation(format!(
                "Value null at 'tags.{}.member.key' failed to satisfy constraint: Member must not be null",
                i + 1
            )),
            (_, None) => input.violation(format!(
                "Value null at 'tags.{}.member.value' failed to satisfy constraint: Member must not be null",
                i + 1
            )),
        }
    }
    new
}

impl Dynamo {
    /// The table a `ResourceArn` names. A table of another account or region is not
    /// this caller's to see: AccessDenied, as IAM answers it.
    fn tagged_table(&self, arn: &str, op: &str) -> Result<Arc<TableDef>, Error> {
        if !arn.starts_with("arn:") {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: ARNs must start with 'arn:': {arn}"
            )));
        }
        let Some((region, account, name, "")) = parse_table_arn(arn) else {
            return Err(Error::validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            )));
        };
        if !self.is_here(region, account) {
            return Err(self.not_here(arn, op));
        }
        self.table(name).map_err(|_| {
            // DynamoDB's own spelling.
            Error::ResourceNotFound(format!(
                "Requested resource not found: ResourcArn: {arn} not found"
            ))
        })
    }

    async fn save_tags(
        &self,
        old: Arc<TableDef>,
        tags: BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut def = TableDef::clone(&old);
        def.tags = tags;
        self.replace_def(old, def).await
    }

    /// TagResource.
    pub(crate) async fn tag_resource(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        let given = input.array("Tags")?;
        if given.is_none() {
            input.violation(
                "Value null at 'tags' failed to satisfy constraint: Member must not be null".into(),
            );
        }
        let new = read_tags(&mut input, given);
        input.finish()?;
        let _changing = self.definitions.lock().await;
        let def = self.tagged_table(&arn, "TagResource")?;
        if new.is_empty() {
            return Err(Error::validation(
                "Atleast one Tag needs to be provided as Input.",
            ));
        }
        if new.iter().any(|(k, _)| k.starts_with("aws:")) {
            return Err(Error::validation(
                "One or more parameter values were invalid: Tag keys starting with 'aws:' are reserved for system use",
            ));
        }
        let mut tags = def.tags.clone();
        tags.extend(new);
        if tags.len() > MAX_TAGS {
            // A ValidationException, not a LimitExceededException, as DynamoDB answers today.
            return Err(Error::validation(
                "Number of Tags exceed the current limit for the provided ResourceArn",
            ));
        }
        self.save_tags(def, tags).await?;
        Ok(json!({}))
    }

    /// UntagResource.
    pub(crate) async fn untag_resource(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        let keys = input.array("TagKeys")?;
        if keys.is_none() {
            input.violation(
                "Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
                    .into(),
            );
        }
        let keys: Vec<String> = keys
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        input.finish()?;
        let _changing = self.definitions.lock().await;
        let def = self.tagged_table(&arn, "UntagResource")?;
        let mut tags = def.tags.clone();
        for k in &keys {
            tags.remove(k);
        }
        self.save_tags(def, tags).await?;
        Ok(json!({}))
    }

    /// ListTagsOfResource (one page: a table has at most 50 tags).
    pub(crate) fn list_tags_of_resource(&self, body: &Value) -> Result<Value, Error> {
        let mut input = Input::new(body)?;
        let arn = arn_member(&mut input)?;
        let _ = input.string("NextToken")?;
        input.finish()?;
        let def = self.tagged_table(&arn, "ListTagsOfResource")?;
        let tags: Vec<Value> = def
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}

pub(super) fn arn_member(input: &mut Input<'_>) -> Result<String, Error> {
    let arn = input.string("ResourceArn")?.map(str::to_owned);
    match &arn {
        None => input.violation(
            "Value null at 'resourceArn' failed to satisfy constraint: Member must not be null"
                .into(),
        ),
        Some(a) if a.is_empty() || a.len() > 1283 => input.violation(format!(
            "Value '{a}' at 'resourceArn' failed to satisfy constraint: Member must have length less than or equal to 1283, Member must have length greater than or equal to 1"
        )),
        Some(_) => {}
    }
    Ok(arn.unwrap_or_default())
}
