//! Which declarations an expression refers to, and the order that follows: every declaration
//! after the ones it refers to, cycles reported.
//!
//! The order is computed with Tarjan's algorithm, written without recursion so that a chain
//! of ten thousand locals cannot overflow the stack.

use crate::node::Span;

use super::eval::{Ref, parse_ref};
use super::syntax::{Body, Expr, ExprKind, ObjectKey, Part, Traverser};

/// Adds every reference in `e` to `out`. `bound` holds the names of enclosing `for`
/// variables, which are not references.
pub fn refs(e: &Expr, bound: &mut Vec<String>, out: &mut Vec<(Ref, Span)>) {
    match &e.kind {
        ExprKind::Literal(_) => {}
        ExprKind::Template(parts) => parts_refs(parts, bound, out),
        ExprKind::Tuple(items) => items.iter().for_each(|i| refs(i, bound, out)),
        ExprKind::Object(items) => {
            for (k, v) in items {
                if let ObjectKey::Expr(k) = k {
                    refs(k, bound, out);
                }
                refs(v, bound, out);
            }
        }
        ExprKind::Var(n) => root(n, e.span, &[], bound, out),
        ExprKind::Traversal(r, ops) => {
            if let ExprKind::Var(n) = &r.kind {
                root(n, r.span, ops, bound, out);
            } else {
                refs(r, bound, out);
            }
            for op in ops {
                if let Traverser::Index(i) = op {
                    refs(i, bound, out);
                }
            }
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| refs(a, bound, out)),
        ExprKind::Cond(a, b, c) => {
            refs(a, bound, out);
            refs(b, bound, out);
            refs(c, bound, out);
        }
        ExprKind::Unary(_, x) | ExprKind::Paren(x) => refs(x, bound, out),
        ExprKind::Binary(_, a, b) => {
            refs(a, bound, out);
            refs(b, bound, out);
        }
        ExprKind::For(f) => {
            refs(&f.collection, bound, out);
            let depth = bound.len();
            bound.extend(f.key_var.iter().cloned());
            bound.push(f.value_var.clone());
            if let Some(k) = &f.key {
                refs(k, bound, out);
            }
            refs(&f.value, bound, out);
            if let Some(c) = &f.cond {
                refs(c, bound, out);
            }
            bound.truncate(depth);
        }
    }
}

fn parts_refs(parts: &[Part], bound: &mut Vec<String>, out: &mut Vec<(Ref, Span)>) {
    for p in parts {
        match p {
            Part::Lit(_) => {}
            Part::Interp(e) => refs(e, bound, out),
            Part::If {
                cond,
                then,
                otherwise,
            } => {
                refs(cond, bound, out);
                parts_refs(then, bound, out);
                parts_refs(otherwise, bound, out);
            }
            Part::For {
                key_var,
                value_var,
                collection,
                body,
            } => {
                refs(collection, bound, out);
                let depth = bound.len();
                bound.extend(key_var.iter().cloned());
                bound.push(value_var.clone());
                parts_refs(body, bound, out);
                bound.truncate(depth);
            }
        }
    }
}

fn root(name: &str, span: Span, ops: &[Traverser], bound: &[String], out: &mut Vec<(Ref, Span)>) {
    if bound.iter().any(|b| b == name) {
        return;
    }
    if let Ok(Some((r, _))) = parse_ref(name, span, ops) {
        out.push((r, span));
    }
}

/// Every reference in a body, nested blocks and `dynamic` contents included (a dynamic
/// block's iterator name is bound inside it). JSON entries are read as plain expressions.
pub fn body_refs(b: &Body, bound: &mut Vec<String>, out: &mut Vec<(Ref, Span)>) {
    for a in &b.attrs {
        refs(&a.expr, bound, out);
    }
    for e in &b.json {
        if let Ok(x) = super::json::expr(&e.value) {
            refs(&x, bound, out);
        }
    }
    for blk in &b.blocks {
        if blk.ident == "dynamic" {
            let depth = bound.len();
            bound.push(blk.label(0).to_owned());
            if let Some(it) = blk.body.attr("iterator").and_then(|a| a.expr.static_path())
                && let Some((n, _)) = it.first()
            {
                bound.push(n.clone());
            }
            body_refs(&blk.body, bound, out);
            bound.truncate(depth);
        } else {
            body_refs(&blk.body, bound, out);
        }
    }
}

/// Orders `n` nodes so that each comes after the nodes it depends on (`edges[i]` lists what
/// `i` depends on). Returns the components in that order; a component of more than one node,
/// or a node that depends on itself, is a cycle.
pub fn order(n: usize, edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0usize;
    // Explicit call stack: (node, next edge to visit).
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if index[start] != NONE {
            continue;
        }
        calls.push((start, 0));
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut ei)) = calls.last_mut() {
            if let Some(&w) = edges[v].get(*ei) {
                *ei += 1;
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.reverse();
                out.push(comp);
            }
        }
    }
    out
}

/// A path around a cycle inside `comp`, starting and ending at `comp[0]`.
pub fn cycle_path(comp: &[usize], edges: &[Vec<usize>]) -> Vec<usize> {
    let start = comp[0];
    // Breadth-first search back to the start, within the component.
    let mut prev: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &edges[v] {
            if !comp.contains(&w) {
                continue;
            }
            if w == start {
                let mut chain = vec![v];
                let mut cur = v;
                while cur != start {
                    cur = prev.get(&cur).copied().unwrap_or(start);
                    chain.push(cur);
                }
                chain.reverse();
                chain.push(start);
                return chain;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start, start]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first_and_cycles_are_found() {
        // 0 -> 1 -> 2; 3 <-> 4; 5 -> 5.
        let edges = vec![vec![1], vec![2], vec![], vec![4], vec![3], vec![5]];
        let comps = order(6, &edges);
        let pos = |x: usize| comps.iter().position(|c| c.contains(&x)).expect("placed");
        assert!(pos(2) < pos(1) && pos(1) < pos(0));
        let cyc = comps
            .iter()
            .find(|c| c.len() == 2)
            .expect("a two-node cycle");
        assert_eq!(cycle_path(cyc, &edges).len(), 3);
        assert_eq!(cycle_path(&[5], &edges), vec![5, 5]);
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let comps = order(n, &edges);
        assert_eq!(comps.len(), n);
        assert_eq!(comps[0], vec![n - 1]);
    }

    #[test]
    fn for_variables_are_not_references() {
        let e = crate::terraform::syntax::parse_expr(
            "[for s in var.list : s.id if local.on]",
            Span::new(1, 1),
        )
        .expect("parses");
        let mut out = Vec::new();
        refs(&e, &mut Vec::new(), &mut out);
        let names: Vec<String> = out.iter().map(|(r, _)| r.to_string()).collect();
        assert_eq!(names, vec!["var.list", "local.on"]);
    }
}
