//! CloudFormation intrinsic functions and conditions, evaluated on the positioned node tree.
//!
//! Evaluation turns `!Ref`, `!Sub`, `!GetAtt`, `!Join`, `!Select`, `!If`, `!Split`,
//! `!FindInMap`, `!Base64` (short and `Fn::` long forms) into plain nodes that keep the span
//! of the expression they came from, so typed decoding afterwards still reports the line the
//! user wrote. `AWS::NoValue` removes the enclosing property. Values that only exist in a
//! deployed stack (ARNs, API ids) are synthesised from the stack's region and account.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::diag::{Findings, did_you_mean};
use crate::node::{Entry, Node, ScalarStyle, Span, Value};
use crate::path::FieldPath;

/// Values of the pseudo parameters.
#[derive(Debug, Clone)]
pub(crate) struct Pseudo {
    pub region: String,
    pub account_id: String,
    pub stack_name: String,
}

/// What a logical id refers to.
#[derive(Debug, Clone)]
pub(crate) struct ResInfo {
    /// `AWS::Serverless::Function`, ...
    pub kind: String,
    /// What `!Ref` returns.
    pub ref_value: String,
}

/// A resolved parameter: its type and value.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub kind: String,
    pub value: String,
}

impl Param {
    fn is_list(&self) -> bool {
        self.kind == "CommaDelimitedList" || self.kind.starts_with("List<")
    }
}

const PSEUDO: &[&str] = &[
    "AWS::Region",
    "AWS::AccountId",
    "AWS::StackName",
    "AWS::StackId",
    "AWS::Partition",
    "AWS::URLSuffix",
    "AWS::NoValue",
    "AWS::NotificationARNs",
];

const FUNCTIONS: &[&str] = &[
    "Ref",
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "If",
    "Split",
    "FindInMap",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Equals",
    "And",
    "Or",
    "Not",
    "Condition",
];

/// The evaluation context of one template.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub params: &'a BTreeMap<String, Param>,
    pub pseudo: &'a Pseudo,
    pub resources: &'a BTreeMap<String, ResInfo>,
    pub mappings: Option<&'a Node>,
    pub conditions: Option<&'a Node>,
    /// Conditions evaluated so far (and the one being evaluated, for cycle detection).
    cond_cache: RefCell<BTreeMap<String, CondState>>,
}

/// Where the evaluation of a named condition stands.
#[derive(Debug, Clone, Copy)]
enum CondState {
    InProgress,
    Done(bool),
    Failed,
}

/// A failure already recorded in the findings.
#[derive(Debug)]
pub(crate) struct Reported;

type R<T> = Result<T, Reported>;

fn quoted(s: impl Into<String>, span: Span) -> Node {
    Node {
        span,
        tag: None,
        value: Value::Scalar(s.into(), ScalarStyle::Quoted),
    }
}

/// An intrinsic function call found in a node: its name and its argument node.
fn call_of(node: &Node) -> Option<(&str, Node)> {
    if let Some(tag) = &node.tag {
        let name = tag.0.strip_prefix("Fn::").unwrap_or(&tag.0);
        let mut arg = node.clone();
        arg.tag = None;
        return Some((name, arg));
    }
    let entries = node.as_map()?;
    if entries.len() != 1 {
        return None;
    }
    let key = entries[0].key.as_str()?;
    let name = if key == "Ref" {
        "Ref"
    } else {
        key.strip_prefix("Fn::")?
    };
    Some((name, entries[0].value.clone()))
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        params: &'a BTreeMap<String, Param>,
        pseudo: &'a Pseudo,
        resources: &'a BTreeMap<String, ResInfo>,
        mappings: Option<&'a Node>,
        conditions: Option<&'a Node>,
    ) -> Self {
        Self {
            params,
            pseudo,
            resources,
            mappings,
            conditions,
            cond_cache: RefCell::new(BTreeMap::new()),
        }
    }

    fn fail(&self, f: &mut Findings, path: &FieldPath, span: Span, msg: String) -> Reported {
        f.error(path, msg).span = Some(span);
        Reported
    }

    fn fail_hint(
        &self,
        f: &mut Findings,
        path: &FieldPath,
        span: Span,
        msg: String,
        hint: Option<String>,
    ) -> Reported {
        let e = f.error(path, msg);
        e.span = Some(span);
        e.hint = hint;
        Reported
    }

    /// Evaluates every intrinsic in `node`. `None` means the value is `AWS::NoValue` (the
    /// property is removed). Errors are recorded and the failing expression becomes an empty
    /// string, so the rest of the template is still checked.
    pub(crate) fn eval(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> Option<Node> {
        match self.eval_inner(node, path, f) {
            Ok(n) => n,
            Err(Reported) => Some(quoted("", node.span)),
        }
    }

    fn eval_inner(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> R<Option<Node>> {
        if let Some((name, arg)) = call_of(node) {
            return self.call(name, &arg, node.span, path, f);
        }
        Ok(Some(match &node.value {
            Value::Scalar(..) => node.clone(),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(n) = self.eval(item, &path.index(i), f) {
                        out.push(n);
                    }
                }
                Node {
                    span: node.span,
                    tag: None,
                    value: Value::Seq(out),
                }
            }
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for e in entries {
                    let key = e.key.as_str().unwrap_or_default().to_owned();
                    if let Some(v) = self.eval(&e.value, &path.field(key), f) {
                        out.push(Entry {
                            key: e.key.clone(),
                            value: v,
                        });
                    }
                }
                Node {
                    span: node.span,
                    tag: None,
                    value: Value::Map(out),
                }
            }
        }))
    }

    fn call(
        &self,
        name: &str,
        arg: &Node,
        span: Span,
        path: &FieldPath,
        f: &mut Findings,
    ) -> R<Option<Node>> {
        match name {
            "Ref" => {
                let target = self.literal_str(arg, "!Ref", path, f)?;
                self.reference(&target, span, path, f)
            }
            "Sub" => self.sub(arg, span, path, f).map(|s| Some(quoted(s, span))),
            "GetAtt" => {
                let (res, attr) = self.getatt_args(arg, path, f)?;
                self.getatt(&res, &attr, span, path, f)
                    .map(|s| Some(quoted(s, span)))
            }
            "Join" => {
                let items = self.args(arg, 2, "!Join [delimiter, [values...]]", path, f)?;
                let delim = self.string_value(&items[0], path, f)?;
                let list = self.list_value(&items[1], path, f)?;
                Ok(Some(quoted(list.join(&delim), span)))
            }
            "Select" => {
                let items = self.args(arg, 2, "!Select [index, [values...]]", path, f)?;
                let idx = self.string_value(&items[0], path, f)?;
                let Ok(i) = idx.trim().parse::<usize>() else {
                    return Err(self.fail(
                        f,
                        path,
                        items[0].span,
                        format!("!Select index \"{idx}\" is not a non-negative integer"),
                    ));
                };
                let list = self.eval_list_nodes(&items[1], path, f)?;
                match list.into_iter().nth(i) {
                    Some(n) => Ok(Some(n)),
                    None => Err(self.fail(
                        f,
                        path,
                        span,
                        format!("!Select index {i} is out of range"),
                    )),
                }
            }
            "Split" => {
                let items = self.args(arg, 2, "!Split [delimiter, string]", path, f)?;
                let delim = self.string_value(&items[0], path, f)?;
                let s = self.string_value(&items[1], path, f)?;
                if delim.is_empty() {
                    return Err(self.fail(
                        f,
                        path,
                        items[0].span,
                        "!Split needs a non-empty delimiter".into(),
                    ));
                }
                let parts = s.split(delim.as_str()).map(|p| quoted(p, span)).collect();
                Ok(Some(Node {
                    span,
                    tag: None,
                    value: Value::Seq(parts),
                }))
            }
            "If" => {
                let items = self.args(
                    arg,
                    3,
                    "!If [condition_name, value_if_true, value_if_false]",
                    path,
                    f,
                )?;
                let cond = self.literal_str(&items[0], "!If", path, f)?;
                let chosen = if self.condition(&cond, items[0].span, path, f)? {
                    &items[1]
                } else {
                    &items[2]
                };
                self.eval_inner(chosen, path, f)
            }
            "FindInMap" => {
                let items = self.args(
                    arg,
                    3,
                    "!FindInMap [MapName, TopLevelKey, SecondLevelKey]",
                    path,
                    f,
                )?;
                let mut keys = Vec::with_capacity(3);
                for it in &items {
                    keys.push(self.string_value(it, path, f)?);
                }
                let found = self
                    .mappings
                    .and_then(|m| m.get(&keys[0]))
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]));
                match found {
                    Some(n) => self.eval_inner(n, path, f),
                    None => Err(self.fail(
                        f,
                        path,
                        span,
                        format!(
                            "!FindInMap: no value at Mappings.{}.{}.{}",
                            keys[0], keys[1], keys[2]
                        ),
                    )),
                }
            }
            "Base64" => {
                let s = self.string_value(arg, path, f)?;
                Ok(Some(quoted(base64_encode(s.as_bytes()), span)))
            }
            "GetAZs" => {
                let r = &self.pseudo.region;
                let azs = ["a", "b", "c"]
                    .iter()
                    .map(|z| quoted(format!("{r}{z}"), span))
                    .collect();
                Ok(Some(Node {
                    span,
                    tag: None,
                    value: Value::Seq(azs),
                }))
            }
            "ImportValue" => Err(self.fail_hint(
                f,
                path,
                span,
                "!ImportValue refers to another stack's exports, which a single template cannot resolve".into(),
                Some("pass the value as a parameter instead".into()),
            )),
            "Equals" | "And" | "Or" | "Not" | "Condition" => Err(self.fail(
                f,
                path,
                span,
                format!("!{name} is a condition function; it is only allowed in Conditions and in !If"),
            )),
            other => {
                let hint = did_you_mean(other, FUNCTIONS.iter().copied())
                    .map(|c| format!("did you mean !{c}?"));
                Err(self.fail_hint(
                    f,
                    path,
                    span,
                    format!("unknown intrinsic function !{other}"),
                    hint,
                ))
            }
        }
    }

    /// The items of a function's list argument, checking their count.
    fn args(
        &self,
        arg: &Node,
        n: usize,
        usage: &str,
        path: &FieldPath,
        f: &mut Findings,
    ) -> R<Vec<Node>> {
        match arg.as_seq() {
            Some(items) if items.len() == n => Ok(items.to_vec()),
            _ => Err(self.fail(
                f,
                path,
                arg.span,
                format!("expected {usage}, got {}", arg.kind_name()),
            )),
        }
    }

    /// A literal string argument (a name), not an expression.
    fn literal_str(&self, arg: &Node, func: &str, path: &FieldPath, f: &mut Findings) -> R<String> {
        match (&arg.value, &arg.tag) {
            (Value::Scalar(s, _), None) => Ok(s.clone()),
            _ => Err(self.fail(
                f,
                path,
                arg.span,
                format!("{func} needs a name, got {}", arg.kind_name()),
            )),
        }
    }

    /// Evaluates a node that must produce a string.
    fn string_value(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> R<String> {
        let v = self.eval_inner(node, path, f)?;
        match v.as_ref().map(|n| &n.value) {
            Some(Value::Scalar(s, _)) => Ok(s.clone()),
            _ => Err(self.fail(
                f,
                path,
                node.span,
                format!(
                    "expected a string here, got {}",
                    v.as_ref().map_or("AWS::NoValue", Node::kind_name)
                ),
            )),
        }
    }

    fn eval_list_nodes(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> R<Vec<Node>> {
        let v = self.eval_inner(node, path, f)?;
        match v.map(|n| n.value) {
            Some(Value::Seq(items)) => Ok(items),
            _ => Err(self.fail(f, path, node.span, "expected a list here".into())),
        }
    }

    fn list_value(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> R<Vec<String>> {
        let items = self.eval_list_nodes(node, path, f)?;
        let mut out = Vec::with_capacity(items.len());
        for it in &items {
            match it.as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    return Err(self.fail(
                        f,
                        path,
                        it.span,
                        format!("expected a string in this list, got {}", it.kind_name()),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// `!Ref name`.
    fn reference(
        &self,
        name: &str,
        span: Span,
        path: &FieldPath,
        f: &mut Findings,
    ) -> R<Option<Node>> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if name == "AWS::NotificationARNs" {
            return Ok(Some(Node {
                span,
                tag: None,
                value: Value::Seq(Vec::new()),
            }));
        }
        if let Some(p) = self.params.get(name) {
            if p.is_list() {
                let items = p.value.split(',').map(|s| quoted(s.trim(), span)).collect();
                return Ok(Some(Node {
                    span,
                    tag: None,
                    value: Value::Seq(items),
                }));
            }
            return Ok(Some(quoted(p.value.clone(), span)));
        }
        match self.scalar_ref(name) {
            Some(s) => Ok(Some(quoted(s, span))),
            None => match self.published(name) {
                Some(s) => Ok(Some(quoted(s, span))),
                None => Err(self.unknown_ref(name, "!Ref", span, path, f)),
            },
        }
    }

    /// The string value of a reference (pseudo parameter, parameter or resource).
    fn scalar_ref(&self, name: &str) -> Option<String> {
        let p = self.pseudo;
        let v = match name {
            "AWS::Region" => p.region.clone(),
            "AWS::AccountId" => p.account_id.clone(),
            "AWS::StackName" => p.stack_name.clone(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                p.region, p.account_id, p.stack_name
            ),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            _ => {
                if let Some(param) = self.params.get(name) {
                    return Some(param.value.clone());
                }
                return self.resources.get(name).map(|r| r.ref_value.clone());
            }
        };
        Some(v)
    }

    /// `!Ref MyFunction.Alias` and `!Ref MyFunction.Version`: the alias and version SAM
    /// publishes for a function with `AutoPublishAlias`.
    fn published(&self, name: &str) -> Option<String> {
        let (function, what) = name.rsplit_once('.')?;
        let kind = match what {
            "Alias" => "AWS::Lambda::Alias",
            "Version" => "AWS::Lambda::Version",
            _ => return None,
        };
        let prefix = format!("{function}{what}");
        self.resources
            .iter()
            .find(|(id, info)| id.starts_with(&prefix) && info.kind == kind)
            .map(|(_, info)| info.ref_value.clone())
    }

    fn unknown_ref(
        &self,
        name: &str,
        func: &str,
        span: Span,
        path: &FieldPath,
        f: &mut Findings,
    ) -> Reported {
        let candidates = self
            .params
            .keys()
            .chain(self.resources.keys())
            .map(String::as_str)
            .chain(PSEUDO.iter().copied());
        let hint = did_you_mean(name, candidates).map(|c| format!("did you mean \"{c}\"?"));
        self.fail_hint(
            f,
            path,
            span,
            format!("{func} {name}: no parameter, resource or pseudo parameter has this name"),
            hint,
        )
    }

    fn getatt_args(&self, arg: &Node, path: &FieldPath, f: &mut Findings) -> R<(String, String)> {
        match &arg.value {
            Value::Scalar(s, _) => match s.split_once('.') {
                Some((r, a)) if !r.is_empty() && !a.is_empty() => Ok((r.into(), a.into())),
                _ => Err(self.fail(
                    f,
                    path,
                    arg.span,
                    format!("!GetAtt \"{s}\" must be Resource.Attribute"),
                )),
            },
            Value::Seq(items) if items.len() == 2 => {
                let r = self.literal_str(&items[0], "!GetAtt", path, f)?;
                let a = self.string_value(&items[1], path, f)?;
                Ok((r, a))
            }
            _ => Err(self.fail(
                f,
                path,
                arg.span,
                "expected !GetAtt Resource.Attribute or !GetAtt [Resource, Attribute]".into(),
            )),
        }
    }

    /// `!GetAtt resource.attribute`, synthesised as a deployed stack would answer it.
    fn getatt(
        &self,
        res: &str,
        attr: &str,
        span: Span,
        path: &FieldPath,
        f: &mut Findings,
    ) -> R<String> {
        let Some(info) = self.resources.get(res) else {
            return Err(self.unknown_ref(res, "!GetAtt", span, path, f));
        };
        let (region, account) = (&self.pseudo.region, &self.pseudo.account_id);
        let name = &info.ref_value;
        let supported: &[&str] = match info.kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => &["Arn"],
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => &["Arn", "StreamArn"],
            "AWS::S3::Bucket" => &[
                "Arn",
                "DomainName",
                "DualStackDomainName",
                "RegionalDomainName",
                "WebsiteURL",
            ],
            "AWS::Serverless::Api" | "AWS::ApiGateway::RestApi" => &["RootResourceId"],
            "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => &["ApiEndpoint", "ApiId"],
            "AWS::IAM::Role" => &["Arn", "RoleId"],
            "AWS::Lambda::Url" => &["FunctionArn", "FunctionUrl"],
            "AWS::Lambda::Version" => &["FunctionArn", "Version"],
            "AWS::Lambda::Alias" => &["AliasArn"],
            "AWS::Events::Rule" | "AWS::Scheduler::Schedule" => &["Arn"],
            "AWS::Lambda::EventSourceMapping" => &["EventSourceMappingArn", "Id"],
            _ => return Ok(format!("{res}.{attr}")),
        };
        if !supported.contains(&attr) {
            let hint = did_you_mean(attr, supported.iter().copied())
                .map(|c| format!("did you mean \"{c}\"?"))
                .unwrap_or_else(|| format!("supported: {}", supported.join(", ")));
            return Err(self.fail_hint(
                f,
                path,
                span,
                format!(
                    "!GetAtt {res}.{attr}: {} has no attribute \"{attr}\"",
                    info.kind
                ),
                Some(hint),
            ));
        }
        Ok(match (info.kind.as_str(), attr) {
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{account}:role/{name}"),
            ("AWS::IAM::Role", "RoleId") => format!(
                "AROA{}",
                super::synthetic_id(&self.pseudo.stack_name, res).to_uppercase()
            ),
            ("AWS::Lambda::Url", "FunctionUrl") => format!(
                "https://{}.lambda-url.{region}.on.aws/",
                super::generated::url_id(&self.pseudo.stack_name, res)
            ),
            ("AWS::Lambda::Version", "Version") => "1".into(),
            ("AWS::Lambda::Version", "FunctionArn") => name
                .rsplit_once(':')
                .map_or_else(|| name.clone(), |(f, _)| f.to_owned()),
            ("AWS::Events::Rule", "Arn") => {
                format!("arn:aws:events:{region}:{account}:rule/{name}")
            }
            ("AWS::Scheduler::Schedule", "Arn") => {
                format!("arn:aws:scheduler:{region}:{account}:schedule/default/{name}")
            }
            ("AWS::Lambda::EventSourceMapping", "EventSourceMappingArn") => {
                format!("arn:aws:lambda:{region}:{account}:event-source-mapping:{name}")
            }
            (_, "Arn") if info.kind.contains("Function") => {
                format!("arn:aws:lambda:{region}:{account}:function:{name}")
            }
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
            ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
            ("AWS::S3::Bucket", "DualStackDomainName") => {
                format!("{name}.s3.dualstack.{region}.amazonaws.com")
            }
            ("AWS::S3::Bucket", "RegionalDomainName") => {
                format!("{name}.s3.{region}.amazonaws.com")
            }
            ("AWS::S3::Bucket", "WebsiteURL") => {
                format!("http://{name}.s3-website-{region}.amazonaws.com")
            }
            (_, "Arn") => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            (_, "StreamArn") => {
                format!(
                    "arn:aws:dynamodb:{region}:{account}:table/{name}/stream/{}",
                    super::DECLARED_STREAM_LABEL
                )
            }
            (_, "RootResourceId") => format!("{name}root"),
            (_, "ApiEndpoint") => format!("https://{name}.execute-api.{region}.amazonaws.com"),
            _ => name.clone(),
        })
    }

    /// `!Sub "template"` or `!Sub ["template", {Var: value}]`.
    fn sub(&self, arg: &Node, span: Span, path: &FieldPath, f: &mut Findings) -> R<String> {
        let (template, vars) = match &arg.value {
            Value::Scalar(s, _) => (s.clone(), BTreeMap::new()),
            Value::Seq(items) if items.len() == 2 => {
                let t = match items[0].as_str() {
                    Some(t) if items[0].tag.is_none() => t.to_owned(),
                    _ => {
                        return Err(self.fail(
                            f,
                            path,
                            items[0].span,
                            "!Sub's first item must be a literal string".into(),
                        ));
                    }
                };
                let mut vars = BTreeMap::new();
                let Some(entries) = items[1].as_map().filter(|_| items[1].tag.is_none()) else {
                    return Err(self.fail(
                        f,
                        path,
                        items[1].span,
                        "!Sub's second item must be a map of variables".into(),
                    ));
                };
                for e in entries {
                    let k = e.key.as_str().unwrap_or_default().to_owned();
                    let v = self.string_value(&e.value, path, f)?;
                    vars.insert(k, v);
                }
                (t, vars)
            }
            _ => {
                return Err(self.fail(
                    f,
                    path,
                    arg.span,
                    "expected !Sub \"string\" or !Sub [\"string\", {Var: value}]".into(),
                ));
            }
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.fail(
                    f,
                    path,
                    span,
                    format!("!Sub: unclosed \"${{\" in \"{template}\""),
                ));
            };
            let var = after[..end].trim();
            rest = &after[end + 1..];
            if let Some(lit) = var.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
                continue;
            }
            if let Some(v) = vars.get(var) {
                out.push_str(v);
                continue;
            }
            if let Some(v) = self.scalar_ref(var) {
                out.push_str(&v);
                continue;
            }
            if let Some((r, a)) = var.split_once('.')
                && self.resources.contains_key(r)
            {
                out.push_str(&self.getatt(r, a, span, path, f)?);
                continue;
            }
            let candidates = vars
                .keys()
                .chain(self.params.keys())
                .chain(self.resources.keys())
                .map(String::as_str)
                .chain(PSEUDO.iter().copied());
            let hint = did_you_mean(var, candidates).map(|c| format!("did you mean \"{c}\"?"));
            return Err(self.fail_hint(
                f,
                path,
                span,
                format!(
                    "!Sub: ${{{var}}} is not a parameter, resource, pseudo parameter or variable"
                ),
                hint,
            ));
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Evaluates the named condition (memoised; a cycle is an error).
    pub(crate) fn condition(
        &self,
        name: &str,
        span: Span,
        path: &FieldPath,
        f: &mut Findings,
    ) -> R<bool> {
        let state = self.cond_cache.borrow().get(name).copied();
        match state {
            Some(CondState::Done(b)) => return Ok(b),
            Some(CondState::Failed) => return Err(Reported),
            Some(CondState::InProgress) => {
                return Err(self.fail(
                    f,
                    path,
                    span,
                    format!("condition \"{name}\" refers to itself"),
                ));
            }
            None => {}
        }
        let Some(def) = self.conditions.and_then(|c| c.get(name)) else {
            let names = self
                .conditions
                .and_then(Node::as_map)
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.key.as_str());
            let hint = did_you_mean(name, names).map(|c| format!("did you mean \"{c}\"?"));
            return Err(self.fail_hint(
                f,
                path,
                span,
                format!("no condition named \"{name}\" in Conditions"),
                hint,
            ));
        };
        self.cond_cache
            .borrow_mut()
            .insert(name.to_owned(), CondState::InProgress);
        let cpath = FieldPath::root().field("Conditions").key(name);
        let v = self.cond_expr(def, &cpath, f);
        let state = v
            .as_ref()
            .map_or(CondState::Failed, |b| CondState::Done(*b));
        self.cond_cache.borrow_mut().insert(name.to_owned(), state);
        v
    }

    /// A condition function: `!Equals`, `!And`, `!Or`, `!Not`, `!Condition`.
    pub(crate) fn cond_expr(&self, node: &Node, path: &FieldPath, f: &mut Findings) -> R<bool> {
        // `{Condition: name}` inside a condition is a reference to another one.
        let call = call_of(node).or_else(|| {
            let e = node.as_map().filter(|m| m.len() == 1)?;
            (e[0].key.as_str() == Some("Condition")).then(|| ("Condition", e[0].value.clone()))
        });
        let Some((name, arg)) = call else {
            return Err(self.fail(
                f,
                path,
                node.span,
                format!(
                    "expected a condition function (!Equals, !And, !Or, !Not, !Condition), got {}",
                    node.kind_name()
                ),
            ));
        };
        match name {
            "Equals" => {
                let items = self.args(&arg, 2, "!Equals [value1, value2]", path, f)?;
                let a = self.string_value(&items[0], path, f)?;
                let b = self.string_value(&items[1], path, f)?;
                Ok(a == b)
            }
            "And" | "Or" => {
                let Some(items) = arg.as_seq().filter(|i| (2..=10).contains(&i.len())) else {
                    return Err(self.fail(
                        f,
                        path,
                        arg.span,
                        format!("!{name} needs a list of 2 to 10 conditions"),
                    ));
                };
                let mut acc = name == "And";
                for it in items {
                    let v = self.cond_expr(it, path, f)?;
                    acc = if name == "And" { acc && v } else { acc || v };
                }
                Ok(acc)
            }
            "Not" => {
                let items = self.args(&arg, 1, "!Not [condition]", path, f)?;
                Ok(!self.cond_expr(&items[0], path, f)?)
            }
            "Condition" => {
                let n = self.literal_str(&arg, "!Condition", path, f)?;
                self.condition(&n, arg.span, path, f)
            }
            other => Err(self.fail(
                f,
                path,
                node.span,
                format!("!{other} is not a condition function"),
            )),
        }
    }
}

/// Standard base64 (for `!Base64`), without pulling a dependency into the config crate.
fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
        assert_eq!(base64_encode(b"a"), "YQ==");
    }
}
