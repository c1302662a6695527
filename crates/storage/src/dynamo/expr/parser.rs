//! A recursive-descent parser for DynamoDB's expressions.
//!
//! Precedence, loosest first, as DynamoDB's developer guide states it: `OR`, `AND`, `NOT`,
//! parentheses, functions, `BETWEEN`, `IN`, comparators. Operands are never parenthesised, so
//! `(` always opens a condition. Keywords are case-insensitive; function names are not.

use super::lexer::{Spanned, Tok, tokenize};
use super::reserved::is_reserved;
use super::{
    Action, Cmp, Condition, Kind, MAX_EXPRESSION_BYTES, MAX_PATH_DEPTH, Operand, Path,
    Placeholders, SetOperand, SetValue, Step, Update, describe_value, long_type_name,
};
use crate::dynamo::error::Error;
use crate::dynamo::types::AttributeValue;

type Result<T> = std::result::Result<T, Error>;

const CONDITION_FUNCTIONS: [&str; 5] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
];
const TYPE_NAMES: [&str; 10] = ["B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M"];

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    pos: usize,
    kind: Kind,
    ph: &'a Placeholders,
    /// Nesting of parentheses and NOTs, bounded so that no input can exhaust the stack.
    depth: usize,
    /// The operators of a condition read so far (comparators, AND, OR, NOT, BETWEEN, IN).
    operators: usize,
}

/// The deepest nesting of parentheses, `NOT`s and function calls accepted: past what 300
/// operators allow (a condition nested 149 parentheses deep, each with its OR and comparison,
/// is 299), so DynamoDB's own limit on operators is the one a client meets.
const MAX_NESTING: usize = 400;

/// Nesting parsed on the caller's stack. The parser recurses once per level, and a level costs
/// some kilobytes of stack in an unoptimised build (about 8 KiB through parentheses), so a
/// deeper expression is parsed on a thread of its own with room for it.
const SHALLOW: usize = 64;

/// The stack a deeply nested expression's thread gets per level of nesting it may reach.
const STACK_PER_LEVEL: usize = 16 * 1024;

/// The most operators DynamoDB takes in a condition, filter or key condition expression;
/// function calls and parentheses do not count.
const MAX_OPERATORS: usize = 300;

/// Parses a condition, filter or key condition expression.
pub fn parse_condition(src: &str, kind: Kind, ph: &Placeholders) -> Result<Condition> {
    let mut p = Parser::new(src, kind, ph)?;
    with_room(p.nesting_bound(), move || {
        let (c, _) = p.or_expr()?;
        p.expect_end()?;
        Ok(c)
    })
}

/// Parses an update expression and checks its paths and operand types.
pub fn parse_update(src: &str, ph: &Placeholders) -> Result<Update> {
    let mut p = Parser::new(src, Kind::Update, ph)?;
    let update = with_room(p.nesting_bound(), move || p.update())?;
    let paths: Vec<&Path> = update.paths().collect();
    check_overlaps(Kind::Update, &paths)?;
    Ok(update)
}

/// Runs a parse that may recurse `nesting` levels deep: here, or on a thread with the stack
/// for it when that is more than the caller's stack is trusted with.
fn with_room<T: Send>(nesting: usize, parse: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    if nesting <= SHALLOW {
        return parse();
    }
    let stack = 256 * 1024 + nesting.min(MAX_NESTING + 1) * STACK_PER_LEVEL;
    std::thread::scope(|scope| {
        let parsing = std::thread::Builder::new()
            .name("expression".into())
            .stack_size(stack)
            .spawn_scoped(scope, parse)
            .map_err(|e| Error::Internal(format!("no thread to parse an expression on: {e}")))?;
        parsing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Parses a projection expression into its paths.
pub fn parse_projection(src: &str, ph: &Placeholders) -> Result<Vec<Path>> {
    let mut p = Parser::new(src, Kind::Projection, ph)?;
    let mut paths = vec![p.path()?];
    while p.eat_sym(",") {
        paths.push(p.path()?);
    }
    p.expect_end()?;
    let refs: Vec<&Path> = paths.iter().collect();
    check_overlaps(Kind::Projection, &refs)?;
    Ok(paths)
}

/// Two paths of one expression may not overlap (one equal to, or a prefix of, the other), nor
/// conflict (one goes into a map where the other goes into a list at the same place).
fn check_overlaps(kind: Kind, paths: &[&Path]) -> Result<()> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[..i] {
            let common = a.0.iter().zip(&b.0).take_while(|(x, y)| x == y).count();
            let what = match (a.0.get(common), b.0.get(common)) {
                (None, _) | (_, None) => "overlap",
                (Some(Step::Key(_)), Some(Step::Index(_)))
                | (Some(Step::Index(_)), Some(Step::Key(_))) => "conflict",
                _ => continue,
            };
            return Err(kind.invalid(format!(
                "Two document paths {what} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                b.display_list(),
                a.display_list()
            )));
        }
    }
    Ok(())
}

impl<'a> Parser<'a> {
    /// How deep the input could make the parser recurse: its opening parentheses and NOTs.
    fn nesting_bound(&self) -> usize {
        self.toks
            .iter()
            .filter(|t| matches!(t.tok, Tok::Sym("(")) || t.tok.is_keyword("NOT"))
            .count()
    }

    fn new(src: &'a str, kind: Kind, ph: &'a Placeholders) -> Result<Self> {
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(kind.invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        let toks = tokenize(src).map_err(|bad| {
            let near_end = src[bad.at..]
                .char_indices()
                .nth(2)
                .map_or(src.len(), |(i, _)| bad.at + i);
            let near = src[bad.at..near_end]
                .split_whitespace()
                .next()
                .unwrap_or(&bad.token);
            kind.invalid(format!(
                "Syntax error; token: \"{}\", near: \"{near}\"",
                bad.token
            ))
        })?;
        if toks.is_empty() {
            return Err(kind.invalid("The expression can not be empty;"));
        }
        Ok(Self {
            src,
            toks,
            pos: 0,
            kind,
            ph,
            depth: 0,
            operators: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, offset: usize) -> Option<&Tok> {
        self.toks.get(self.pos + offset).map(|t| &t.tok)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_keyword(kw)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &str) -> Result<()> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn expect_end(&self) -> Result<()> {
        if self.pos < self.toks.len() {
            Err(self.syntax_error())
        } else {
            Ok(())
        }
    }

    /// `Syntax error; token: "<tok>", near: "<tok> <next>"`, the window DynamoDB quotes.
    fn syntax_error(&self) -> Error {
        match self.toks.get(self.pos) {
            Some(t) => {
                let end = self.toks.get(self.pos + 1).map_or(t.end, |n| n.end);
                self.kind.invalid(format!(
                    "Syntax error; token: \"{}\", near: \"{}\"",
                    t.tok.text(),
                    &self.src[t.start..end]
                ))
            }
            None => {
                let near = self.toks.last().map_or("", |t| &self.src[t.start..t.end]);
                self.kind
                    .invalid(format!("Syntax error; token: \"<EOF>\", near: \"{near}\""))
            }
        }
    }

    // ---- paths and operands ----

    fn name(&mut self) -> Result<String> {
        match self.peek().cloned() {
            Some(Tok::Ident(name)) => {
                if is_reserved(&name) {
                    return Err(self.kind.invalid(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {name}"
                    )));
                }
                self.pos += 1;
                Ok(name)
            }
            Some(Tok::NamePlaceholder(ph)) => {
                self.pos += 1;
                self.ph.name(&ph).ok_or_else(|| {
                    self.kind.invalid(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {ph}"
                    ))
                })
            }
            _ => Err(self.syntax_error()),
        }
    }

    fn path(&mut self) -> Result<Path> {
        let mut steps = vec![Step::Key(self.name()?)];
        loop {
            if self.eat_sym(".") {
                steps.push(Step::Key(self.name()?));
            } else if self.eat_sym("[") {
                let Some(Tok::Int(n)) = self.peek().cloned() else {
                    return Err(self.syntax_error());
                };
                // DynamoDB's indexes are 32-bit: a larger one is refused, not read as past
                // the end of the list.
                let index = n
                    .parse::<i32>()
                    .ok()
                    .and_then(|i| usize::try_from(i).ok())
                    .ok_or_else(|| {
                        self.kind.invalid(format!(
                            "List index is not within the allowable range; index: [{n}]"
                        ))
                    })?;
                self.pos += 1;
                self.expect_sym("]")?;
                steps.push(Step::Index(index));
            } else {
                break;
            }
        }
        if steps.len() > MAX_PATH_DEPTH {
            return Err(self.kind.invalid(format!(
                "The document path has too many nesting levels; nesting levels: {}",
                steps.len()
            )));
        }
        Ok(Path(steps))
    }

    fn value(&mut self) -> Result<(String, AttributeValue)> {
        let Some(Tok::ValuePlaceholder(ph)) = self.peek().cloned() else {
            return Err(self.syntax_error());
        };
        self.pos += 1;
        let v = self.ph.value(&ph).ok_or_else(|| {
            self.kind.invalid(format!(
                "An expression attribute value used in expression is not defined; attribute value: {ph}"
            ))
        })?;
        Ok((ph, v))
    }

    fn is_call(&self) -> bool {
        matches!(self.peek(), Some(Tok::Ident(_))) && matches!(self.peek_at(1), Some(Tok::Sym("(")))
    }

    /// One operand; function calls nest through here, so the nesting limit bounds the
    /// recursion whatever the input.
    fn operand(&mut self) -> Result<Operand> {
        self.enter()?;
        let out = self.operand_inner();
        self.depth -= 1;
        out
    }

    /// Counts an operator of a condition, refusing the one past DynamoDB's limit as it
    /// does (naming that one's count).
    fn operator(&mut self) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.kind.invalid(format!(
                "The expression contains too many operators; operator count: {}",
                self.operators
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.kind.invalid(format!(
                "The expression has too many nested levels; maximum: {MAX_NESTING}"
            )));
        }
        Ok(())
    }

    fn operand_inner(&mut self) -> Result<Operand> {
        match self.peek() {
            Some(Tok::ValuePlaceholder(_)) => {
                let (ph, v) = self.value()?;
                Ok(Operand::Value(ph, v))
            }
            Some(Tok::Ident(name)) if self.is_call() => {
                let name = name.clone();
                if name != "size" {
                    if self.kind == Kind::Condition
                        && matches!(name.as_str(), "if_not_exists" | "list_append")
                    {
                        return Err(self.kind.invalid(format!(
                            "The function is not allowed in a condition expression; function: {name}"
                        )));
                    }
                    if CONDITION_FUNCTIONS.contains(&name.as_str()) {
                        return Err(self.kind.invalid(format!(
                            "The function is not allowed to be used this way in an expression; function: {name}"
                        )));
                    }
                    return Err(self
                        .kind
                        .invalid(format!("Invalid function name; function: {name}")));
                }
                self.pos += 2;
                let args = self.args("size")?;
                self.require_count("size", &args, 1)?;
                match args.into_iter().next() {
                    Some(Operand::Path(p)) => Ok(Operand::Size(p)),
                    // The size of a value is known now: `size(:v)` is that number.
                    Some(Operand::Value(ph, v)) => match super::eval::size_of(&v) {
                        Some(n) => Ok(Operand::Value(
                            ph,
                            AttributeValue::N(crate::dynamo::number::Number::from(n as i64)),
                        )),
                        None => Err(self.operand_type_error("size", &v)),
                    },
                    // `size(size(a))`: the inner size is a number, which has no size.
                    Some(Operand::Size(_)) => Err(self.kind.invalid(
                        "Incorrect operand type for operator or function; operator or function: size, operand type: N",
                    )),
                    _ => Err(self.kind.invalid(
                        "Operator or function requires a document path; operator or function: size",
                    )),
                }
            }
            Some(Tok::Ident(_) | Tok::NamePlaceholder(_)) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }

    /// The arguments after `name(`, through the closing `)`.
    fn args(&mut self, _name: &str) -> Result<Vec<Operand>> {
        let mut args = Vec::new();
        if self.eat_sym(")") {
            return Ok(args);
        }
        loop {
            args.push(self.operand()?);
            if self.eat_sym(")") {
                return Ok(args);
            }
            self.expect_sym(",")?;
        }
    }

    fn require_count(&self, name: &str, args: &[Operand], n: usize) -> Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(self.kind.invalid(format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            )))
        }
    }

    fn operand_type_error(&self, op: &str, v: &AttributeValue) -> Error {
        self.kind.invalid(format!(
            "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
            v.type_name()
        ))
    }

    // ---- conditions ----

    /// Returns the condition and whether it was exactly one parenthesised group.
    fn or_expr(&mut self) -> Result<(Condition, bool)> {
        let (mut left, mut grouped) = self.and_expr()?;
        while self.eat_keyword("OR") {
            self.operator()?;
            let (right, _) = self.and_expr()?;
            left = Condition::Or(Box::new(left), Box::new(right));
            grouped = false;
        }
        Ok((left, grouped))
    }

    fn and_expr(&mut self) -> Result<(Condition, bool)> {
        let (mut left, mut grouped) = self.not_expr()?;
        while self.eat_keyword("AND") {
            self.operator()?;
            let (right, _) = self.not_expr()?;
            left = Condition::And(Box::new(left), Box::new(right));
            grouped = false;
        }
        Ok((left, grouped))
    }

    fn not_expr(&mut self) -> Result<(Condition, bool)> {
        self.enter()?;
        let out = if self.eat_keyword("NOT") {
            self.operator()
                .and_then(|()| self.not_expr())
                .map(|(c, _)| (Condition::Not(Box::new(c)), false))
        } else {
            self.primary()
        };
        self.depth -= 1;
        out
    }

    fn primary(&mut self) -> Result<(Condition, bool)> {
        if self.eat_sym("(") {
            let (inner, grouped) = self.or_expr()?;
            self.expect_sym(")")?;
            if grouped {
                return Err(self
                    .kind
                    .invalid("The expression has redundant parentheses;"));
            }
            return Ok((inner, true));
        }
        self.predicate()
    }

    /// A comparison, BETWEEN, IN or function call: the leaves of a condition. Kept out of
    /// the recursion through parentheses (never inlined into [`Parser::primary`]) so that a
    /// level of nesting costs the stack only the small frames of the functions above.
    #[inline(never)]
    fn predicate(&mut self) -> Result<(Condition, bool)> {
        if let Some(Tok::Ident(name)) = self.peek()
            && self.is_call()
            && CONDITION_FUNCTIONS.contains(&name.as_str())
        {
            let name = name.clone();
            self.pos += 2;
            let args = self.args(&name)?;
            return Ok((self.function(&name, args)?, false));
        }
        let left = self.operand()?;
        let cmp = match self.peek() {
            Some(Tok::Sym("=")) => Some(Cmp::Eq),
            Some(Tok::Sym("<>")) => Some(Cmp::Ne),
            Some(Tok::Sym("<")) => Some(Cmp::Lt),
            Some(Tok::Sym("<=")) => Some(Cmp::Le),
            Some(Tok::Sym(">")) => Some(Cmp::Gt),
            Some(Tok::Sym(">=")) => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.pos += 1;
            self.operator()?;
            let right = self.operand()?;
            self.distinct(cmp.as_str(), &left, &right)?;
            if !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                for side in [&left, &right] {
                    if let Operand::Value(_, v) = side
                        && !matches!(
                            v,
                            AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
                        )
                    {
                        return Err(self.operand_type_error(cmp.as_str(), v));
                    }
                }
            }
            return Ok((Condition::Compare(left, cmp, right), false));
        }
        if self.eat_keyword("BETWEEN") {
            self.operator()?;
            let low = self.operand()?;
            if !self.eat_keyword("AND") {
                return Err(self.syntax_error());
            }
            let high = self.operand()?;
            for side in [&left, &low, &high] {
                if let Operand::Value(_, v) = side
                    && !matches!(
                        v,
                        AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
                    )
                {
                    return Err(self.operand_type_error("BETWEEN", v));
                }
            }
            if let (Operand::Value(_, lo), Operand::Value(_, hi)) = (&low, &high)
                && lo.type_name() != hi.type_name()
            {
                return Err(self.kind.invalid(format!(
                        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                        describe_value(lo),
                        describe_value(hi)
                    )));
            }
            if let (Operand::Value(_, lo), Operand::Value(_, hi)) = (&low, &high)
                && super::eval::compare_values(lo, hi) == Some(std::cmp::Ordering::Greater)
            {
                return Err(self.kind.invalid(format!(
                        "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower operand: AttributeValue: {}, upper operand: AttributeValue: {}",
                        describe_value(lo),
                        describe_value(hi)
                    )));
            }
            return Ok((Condition::Between(left, low, high), false));
        }
        if self.eat_keyword("IN") {
            self.operator()?;
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.eat_sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            if list.len() > 100 {
                return Err(self.kind.invalid(format!(
                    "The IN operator is provided with too many operands; number of operands: {}",
                    list.len()
                )));
            }
            return Ok((Condition::In(left, list), false));
        }
        if let Operand::Size(_) = left
            && (self.peek().is_none() || matches!(self.peek(), Some(Tok::Sym(")"))))
        {
            return Err(self.kind.invalid(
                "The function is not allowed to be used this way in an expression; function: size",
            ));
        }
        Err(self.syntax_error())
    }

    /// DynamoDB refuses a comparison or a two-operand function of a path with itself.
    fn distinct(&self, operator: &str, first: &Operand, second: &Operand) -> Result<()> {
        match (first, second) {
            (Operand::Path(a), Operand::Path(b)) if a == b => {
                let steps: Vec<String> =
                    a.0.iter()
                        .map(|s| match s {
                            Step::Key(k) => k.clone(),
                            Step::Index(i) => format!("[{i}]"),
                        })
                        .collect();
                Err(self.kind.invalid(format!(
                    "The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: [{}]",
                    steps.join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    fn function(&self, name: &str, args: Vec<Operand>) -> Result<Condition> {
        if let [a, b] = args.as_slice() {
            self.distinct(name, a, b)?;
        }
        let need_path = |op: Operand| -> Result<Path> {
            match op {
                Operand::Path(p) => Ok(p),
                _ => Err(self.kind.invalid(format!(
                    "Operator or function requires a document path; operator or function: {name}"
                ))),
            }
        };
        match name {
            "attribute_exists" | "attribute_not_exists" => {
                self.require_count(name, &args, 1)?;
                let mut it = args.into_iter();
                let p = need_path(it.next().ok_or_else(|| self.syntax_error())?)?;
                Ok(if name == "attribute_exists" {
                    Condition::Exists(p)
                } else {
                    Condition::NotExists(p)
                })
            }
            "attribute_type" => {
                self.require_count(name, &args, 2)?;
                let mut it = args.into_iter();
                let a = it.next().ok_or_else(|| self.syntax_error())?;
                if let Operand::Size(_) = a {
                    return Err(self.kind.invalid(
                        "Operator or function requires a document path; operator or function: attribute_type",
                    ));
                }
                let t = it.next().ok_or_else(|| self.syntax_error())?;
                // The type is named by a value, never read from the item: DynamoDB refuses
                // a path there, naming every type a path could have (as dynalite records).
                let Operand::Value(_, v) = &t else {
                    return Err(self.kind.invalid(
                        "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}",
                    ));
                };
                match v {
                    AttributeValue::S(s) if TYPE_NAMES.contains(&s.as_str()) => {}
                    AttributeValue::S(s) => {
                        return Err(self.kind.invalid(format!(
                            "Invalid attribute type name found; type: {s}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                        )));
                    }
                    other => return Err(self.operand_type_error(name, other)),
                }
                Ok(Condition::Type(a, t))
            }
            "begins_with" | "contains" => {
                self.require_count(name, &args, 2)?;
                let mut it = args.into_iter();
                let a = it.next().ok_or_else(|| self.syntax_error())?;
                let b = it.next().ok_or_else(|| self.syntax_error())?;
                if name == "begins_with" {
                    for side in [&a, &b] {
                        if let Operand::Value(_, v) = side
                            && !matches!(v, AttributeValue::S(_) | AttributeValue::B(_))
                        {
                            return Err(self.operand_type_error(name, v));
                        }
                    }
                    Ok(Condition::BeginsWith(a, b))
                } else {
                    Ok(Condition::Contains(a, b))
                }
            }
            _ => Err(self
                .kind
                .invalid(format!("Invalid function name; function: {name}"))),
        }
    }

    // ---- updates ----

    fn update(&mut self) -> Result<Update> {
        let mut update = Update::default();
        let mut seen: Vec<&'static str> = Vec::new();
        while self.peek().is_some() {
            let clause = ["SET", "REMOVE", "ADD", "DELETE"]
                .into_iter()
                .find(|kw| self.peek().is_some_and(|t| t.is_keyword(kw)))
                .ok_or_else(|| self.syntax_error())?;
            if seen.contains(&clause) {
                return Err(self.kind.invalid(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                )));
            }
            seen.push(clause);
            self.pos += 1;
            loop {
                let action = match clause {
                    "SET" => {
                        let path = self.path()?;
                        self.expect_sym("=")?;
                        Action::Set(path, self.set_value()?)
                    }
                    "REMOVE" => Action::Remove(self.path()?),
                    _ => {
                        let path = self.path()?;
                        let (_, v) = self.value()?;
                        let ok = match clause {
                            "ADD" => matches!(
                                v,
                                AttributeValue::N(_)
                                    | AttributeValue::Ss(_)
                                    | AttributeValue::Ns(_)
                                    | AttributeValue::Bs(_)
                            ),
                            _ => matches!(
                                v,
                                AttributeValue::Ss(_)
                                    | AttributeValue::Ns(_)
                                    | AttributeValue::Bs(_)
                            ),
                        };
                        if !ok {
                            return Err(self.kind.invalid(format!(
                                "Incorrect operand type for operator or function; operator: {clause}, operand type: {}",
                                long_type_name(&v)
                            )));
                        }
                        if clause == "ADD" {
                            Action::Add(path, v)
                        } else {
                            Action::Delete(path, v)
                        }
                    }
                };
                update.actions.push(action);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        Ok(update)
    }

    fn set_value(&mut self) -> Result<SetValue> {
        let left = self.set_operand()?;
        let op = if self.eat_sym("+") {
            "+"
        } else if self.eat_sym("-") {
            "-"
        } else {
            return Ok(SetValue::Operand(left));
        };
        let right = self.set_operand()?;
        for side in [&left, &right] {
            if let SetOperand::Value(_, v) = side
                && !matches!(v, AttributeValue::N(_))
            {
                return Err(self.kind.invalid(format!(
                        "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
                        long_type_name(v)
                    )));
            }
        }
        Ok(if op == "+" {
            SetValue::Plus(left, right)
        } else {
            SetValue::Minus(left, right)
        })
    }

    fn set_operand(&mut self) -> Result<SetOperand> {
        self.enter()?;
        let out = self.set_operand_inner();
        self.depth -= 1;
        out
    }

    fn set_operand_inner(&mut self) -> Result<SetOperand> {
        match self.peek() {
            Some(Tok::ValuePlaceholder(_)) => {
                let (ph, v) = self.value()?;
                Ok(SetOperand::Value(ph, v))
            }
            Some(Tok::Ident(name)) if self.is_call() => {
                let name = name.clone();
                self.pos += 2;
                match name.as_str() {
                    "if_not_exists" => {
                        let path = match self.set_operand()? {
                            SetOperand::Path(p) => p,
                            _ => {
                                return Err(self.kind.invalid(
                                    "Operator or function requires a document path; operator or function: if_not_exists",
                                ));
                            }
                        };
                        self.expect_sym(",")?;
                        let fallback = self.set_operand()?;
                        self.expect_sym(")")?;
                        Ok(SetOperand::IfNotExists(path, Box::new(fallback)))
                    }
                    "list_append" => {
                        let a = self.set_operand()?;
                        self.expect_sym(",")?;
                        let b = self.set_operand()?;
                        self.expect_sym(")")?;
                        // DynamoDB takes if_not_exists inside list_append, not list_append.
                        if [&a, &b]
                            .iter()
                            .any(|side| matches!(side, SetOperand::ListAppend(..)))
                        {
                            return Err(self.kind.invalid(
                                "The function is not allowed to be used this way in an expression; function: list_append",
                            ));
                        }
                        for side in [&a, &b] {
                            if let SetOperand::Value(_, v) = side
                                && !matches!(v, AttributeValue::L(_))
                            {
                                return Err(self.kind.invalid(format!(
                                        "Incorrect operand type for operator or function; operator or function: list_append, operand type: {}",
                                        v.type_name()
                                    )));
                            }
                        }
                        Ok(SetOperand::ListAppend(Box::new(a), Box::new(b)))
                    }
                    other if CONDITION_FUNCTIONS.contains(&other) || other == "size" => {
                        Err(self.kind.invalid(format!(
                            "The function is not allowed in an update expression; function: {other}"
                        )))
                    }
                    other => Err(self
                        .kind
                        .invalid(format!("Invalid function name; function: {other}"))),
                }
            }
            Some(Tok::Ident(_) | Tok::NamePlaceholder(_)) => Ok(SetOperand::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::number::Number;
    use std::collections::HashMap;

    fn ph(names: &[(&str, &str)], values: &[(&str, AttributeValue)]) -> Placeholders {
        Placeholders::new(
            names
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            values
                .iter()
                .map(|(a, b)| (a.to_string(), b.clone()))
                .collect::<HashMap<_, _>>(),
        )
    }

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(Number::from(v))
    }

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn precedence_is_not_and_or() {
        let p = ph(&[], &[(":v", n(1))]);
        let c = parse_condition("a = :v OR b = :v AND NOT c = :v", Kind::Condition, &p).unwrap();
        let Condition::Or(_, right) = c else {
            panic!("{c:?}")
        };
        assert!(matches!(*right, Condition::And(_, _)));
    }

    #[test]
    fn every_form_parses() {
        let p = ph(
            &[("#n", "name")],
            &[
                (":a", n(1)),
                (":b", n(2)),
                (":s", AttributeValue::S("S".into())),
            ],
        );
        for src in [
            "attribute_exists(#n) AND attribute_not_exists(x.y[2])",
            "a BETWEEN :a AND :b",
            "a IN (:a, :b)",
            "begins_with(#n, :s) OR contains(l, :a)",
            "size(l) > :a",
            "attribute_type(a, :s)",
            "(a = :a) and (b <> :b)",
        ] {
            parse_condition(src, Kind::Condition, &p).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
    }

    #[test]
    fn syntax_errors_quote_the_token() {
        let p = ph(&[], &[(":v", n(1))]);
        assert_eq!(
            err(parse_condition("a = ", Kind::Condition, &p)),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
        );
        assert_eq!(
            err(parse_condition("a = :v :v", Kind::Condition, &p)),
            "Invalid ConditionExpression: Syntax error; token: \":v\", near: \":v\""
        );
        assert_eq!(
            err(parse_condition("a ! :v", Kind::Filter, &p)),
            "Invalid FilterExpression: Syntax error; token: \"!\", near: \"!\""
        );
        assert_eq!(
            err(parse_condition("", Kind::Condition, &p)),
            "Invalid ConditionExpression: The expression can not be empty;"
        );
    }

    #[test]
    fn placeholders_and_reserved_words() {
        let p = ph(&[], &[]);
        assert_eq!(
            err(parse_condition("status = :v", Kind::Condition, &p)),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        );
        assert_eq!(
            err(parse_condition("#s = :v", Kind::Condition, &p)),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #s"
        );
        assert_eq!(
            err(parse_condition("a = :v", Kind::Condition, &p)),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :v"
        );
        let p = ph(&[("#a", "a"), ("#b", "b")], &[(":v", n(1)), (":w", n(2))]);
        parse_condition("#a = :v", Kind::Condition, &p).unwrap();
        assert_eq!(
            err(p.check_all_used()),
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
        );
    }

    #[test]
    fn functions_are_checked() {
        let p = ph(&[], &[(":v", n(1))]);
        assert_eq!(
            err(parse_condition("foo(a)", Kind::Condition, &p)),
            "Invalid ConditionExpression: Invalid function name; function: foo"
        );
        assert_eq!(
            err(parse_condition("begins_with(a)", Kind::Condition, &p)),
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: begins_with, number of operands: 1"
        );
        assert_eq!(
            err(parse_condition("begins_with(a, :v)", Kind::Condition, &p)),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        );
        assert_eq!(
            err(parse_condition("attribute_exists(:v)", Kind::Condition, &p)),
            "Invalid ConditionExpression: Operator or function requires a document path; operator or function: attribute_exists"
        );
        assert_eq!(
            err(parse_condition("((a = :v))", Kind::Condition, &p)),
            "Invalid ConditionExpression: The expression has redundant parentheses;"
        );
    }

    #[test]
    fn updates_parse_and_refuse_overlaps() {
        let p = ph(
            &[],
            &[
                (":v", n(1)),
                (":l", AttributeValue::L(vec![])),
                (":s", AttributeValue::Ns(vec![Number::from(1)])),
            ],
        );
        let u = parse_update(
            "SET a = a + :v, b = if_not_exists(b, :v), c = list_append(c, :l) REMOVE d[1] ADD e :v DELETE f :s",
            &p,
        )
        .unwrap();
        assert_eq!(u.actions.len(), 6);
        assert_eq!(
            err(parse_update("SET a = :v REMOVE a.b", &p)),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        );
        assert_eq!(
            err(parse_update("SET a = :v SET b = :v", &p)),
            "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;"
        );
        assert_eq!(
            err(parse_update("ADD a :l", &p)),
            "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: LIST"
        );
    }

    #[test]
    fn conditions_nest_as_deep_as_their_300_operators_allow() {
        let p = ph(&[], &[(":v", n(1))]);
        // a<b or (a<b or (...)): 149 levels are 299 operators, which DynamoDB takes.
        let nested =
            |depth: usize| format!("a<b {}{}", "or (a<b ".repeat(depth), ")".repeat(depth));
        let c = parse_condition(&nested(149), Kind::Condition, &p).unwrap();
        let (mut levels, mut at) = (0, &c);
        while let Condition::Or(_, right) = at {
            levels += 1;
            at = right;
        }
        assert_eq!(levels, 149);
        assert_eq!(
            err(parse_condition(&nested(454), Kind::Condition, &p)),
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
        );
        // 299 NOTs and a comparison are 300 operators, nested 299 deep.
        let nots = |count: usize| format!("{}a = :v", "NOT ".repeat(count));
        parse_condition(&nots(299), Kind::Condition, &p).unwrap();
        assert_eq!(
            err(parse_condition(&nots(300), Kind::Condition, &p)),
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301"
        );
        // Nested function calls as deep as 4 KB of expression allows.
        let deep = format!(
            "SET a = {}:v{}",
            "if_not_exists(b, ".repeat(200),
            ")".repeat(200)
        );
        parse_update(&deep, &p).unwrap();
    }

    #[test]
    fn nesting_is_bounded() {
        let p = ph(&[], &[(":v", n(1))]);
        let deep = format!("{}a = :v{}", "(".repeat(2000), ")".repeat(2000));
        assert!(parse_condition(&deep, Kind::Condition, &p).is_err());
        let nots = format!("{}a = :v", "NOT ".repeat(1000));
        assert!(parse_condition(&nots, Kind::Condition, &p).is_err());
    }

    #[test]
    fn conditions_take_300_operators_and_refuse_the_next_in_dynamodbs_words() {
        let p = ph(&[], &[(":v", n(1))]);
        let too_many = |kind: &str| {
            format!(
                "Invalid {kind}: The expression contains too many operators; operator count: 301"
            )
        };
        // a<b or a<b or ...: two operators a clause after the first one's one.
        let flat = |n: usize| format!("a<b {}", "or a<b ".repeat(n));
        parse_condition(&flat(149), Kind::Condition, &p).unwrap();
        assert_eq!(
            err(parse_condition(&flat(150), Kind::Condition, &p)),
            too_many("ConditionExpression")
        );
        assert_eq!(
            err(parse_condition(&flat(584), Kind::Filter, &p)),
            too_many("FilterExpression")
        );
        // Parentheses do not count (a few levels, within the nesting bound).
        let grouped = format!("(a<b or a<b) and ({})", flat(147));
        parse_condition(&grouped, Kind::Condition, &p).unwrap();
        assert_eq!(
            err(parse_condition(
                &format!("a<b and {grouped}"),
                Kind::Condition,
                &p
            )),
            too_many("ConditionExpression")
        );
        // NOT, BETWEEN and IN count once each; function calls do not count.
        let mixed = format!(
            "NOT a BETWEEN :v AND :v AND b IN (:v, :v) AND attribute_exists(c) AND {}",
            flat(146)
        );
        parse_condition(&mixed, Kind::Condition, &p).unwrap();
        assert_eq!(
            err(parse_condition(
                &format!("a<b and {mixed}"),
                Kind::Condition,
                &p
            )),
            too_many("ConditionExpression")
        );
    }

    #[test]
    fn equal_paths_overlap_and_map_against_list_conflicts() {
        let p = ph(&[], &[(":v", n(1)), (":w", n(2))]);
        assert_eq!(
            err(parse_update("SET a.b = :v, a.b = :w", &p)),
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, b]"
        );
        assert_eq!(
            err(parse_update("SET a.b = :v, a[1] = :w", &p)),
            "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"
        );
        assert_eq!(
            err(parse_projection("a, a", &p)),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        );
        parse_update("SET a.b = :v, a.c = :w", &p).unwrap();
    }

    #[test]
    fn names_start_with_a_letter_and_function_nesting_is_bounded() {
        let p = ph(&[], &[(":v", n(1))]);
        assert_eq!(
            err(parse_update("SET _123 = :v", &p)),
            "Invalid UpdateExpression: Syntax error; token: \"_\", near: \"_1\""
        );
        parse_update("SET a_1 = :v", &p).unwrap();
        let deep = format!("a < {}b{}", "size(".repeat(700), ")".repeat(700));
        assert!(parse_condition(&deep, Kind::Condition, &p).is_err());
        let deep = format!(
            "SET a = {}b, :v{}",
            "if_not_exists(".repeat(700),
            ")".repeat(700)
        );
        assert!(parse_update(&deep, &p).is_err());
    }

    #[test]
    fn size_of_a_value_and_functions_a_condition_cannot_use() {
        let p = ph(
            &[],
            &[(":s", AttributeValue::S("abc".into())), (":n", n(3))],
        );
        let c = parse_condition("size(:s) = :n", Kind::Condition, &p).unwrap();
        assert_eq!(
            c,
            Condition::Compare(
                Operand::Value(":s".into(), n(3)),
                Cmp::Eq,
                Operand::Value(":n".into(), n(3))
            )
        );
        assert_eq!(
            err(parse_condition("size(:n) = :n", Kind::Condition, &p)),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"
        );
        assert_eq!(
            err(parse_condition("size(size(a)) = :n", Kind::Condition, &p)),
            "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: N"
        );
        assert_eq!(
            err(parse_condition(
                "if_not_exists(a, a) = :n",
                Kind::Condition,
                &p
            )),
            "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists"
        );
        assert_eq!(
            err(parse_condition("a BETWEEN :n AND :s", Kind::Condition, &p)),
            "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:3}, upper bound operand: AttributeValue: {S:abc}"
        );
    }

    #[test]
    fn projections_are_paths() {
        let p = ph(&[("#n", "name")], &[]);
        let paths = parse_projection("#n, a.b[0].c, d", &p).unwrap();
        assert_eq!(paths.len(), 3);
        assert_eq!(paths[1].display_list(), "[a, b, [0], c]");
    }
}
