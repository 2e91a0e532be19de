//! Evaluation of a parsed template over a `serde_json::Value`, following
//! Go's `text/template/exec.go`.

use crate::funcs::{self, FnError};
use crate::gofmt::{self, type_name};
use crate::parse::{Arg, Command, Control, Node, Pipe};
use crate::value::Val;
use crate::TemplateError;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Display;

type R<T> = Result<T, TemplateError>;

/// How a list ended: normally or through `{{break}}` / `{{continue}}`.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) fn execute<'a>(src: &'a str, nodes: &'a [Node], data: &'a Value) -> R<String> {
    let mut st = State {
        src,
        vars: vec![("$".to_string(), Some(Cow::Borrowed(data)))],
        out: String::new(),
    };
    st.walk_list(&Some(Cow::Borrowed(data)), nodes)?;
    Ok(st.out)
}

struct State<'a> {
    src: &'a str,
    vars: Vec<(String, Val<'a>)>,
    out: String,
}

/// A node to blame in an error message.
#[derive(Clone, Copy)]
enum At<'n> {
    Arg(&'n Arg),
    Cmd(&'n Command),
    Node(&'n Node, usize),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Arg(a) => a.pos(),
            At::Cmd(c) => c.pos,
            At::Node(_, pos) => *pos,
        }
    }

    fn context(&self) -> String {
        match self {
            At::Arg(a) => a.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Node(n, _) => n.to_string(),
        }
    }
}

/// Items a `range` iterates over: (index or key, element).
enum RangeItems<'a> {
    Pairs(Vec<(Value, Val<'a>)>),
    Count(i128),
}

impl<'a> State<'a> {
    fn err(&self, at: At<'_>, message: impl Display) -> TemplateError {
        let pos = at.pos().min(self.src.len());
        let before = &self.src[..pos];
        let line = 1 + before.matches('\n').count();
        let column = match before.rfind('\n') {
            Some(nl) => pos - nl - 1,
            None => pos,
        };
        let mut context = at.context();
        if context.len() > 20 {
            context = format!("{}...", context.chars().take(20).collect::<String>());
        }
        TemplateError::Exec {
            line,
            column,
            context,
            message: message.to_string(),
        }
    }

    fn walk_list(&mut self, dot: &Val<'a>, list: &'a [Node]) -> R<Flow> {
        for node in list {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Val<'a>, node: &'a Node) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decls.is_empty() {
                    match v.as_deref() {
                        None => self.out.push_str("<no value>"),
                        Some(v) => gofmt::write_value(&mut self.out, v),
                    }
                }
            }
            Node::If(c) | Node::With(c) => {
                let mark = self.vars.len();
                let val = self.eval_pipeline(dot, &c.pipe)?;
                let flow = if funcs::truth(&val) {
                    if matches!(node, Node::With(_)) {
                        self.walk_list(&val, &c.list)?
                    } else {
                        self.walk_list(dot, &c.list)?
                    }
                } else if let Some(else_list) = &c.else_list {
                    self.walk_list(dot, else_list)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(c) => self.walk_range(dot, node, c)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Val<'a>, node: &'a Node, c: &'a Control) -> R<()> {
        let at = At::Node(node, c.pipe.pos);
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let items = match val {
            None => RangeItems::Pairs(Vec::new()),
            Some(v) => range_items(v).map_err(|m| self.err(at, m))?,
        };
        let body_mark = self.vars.len();
        let mut ran = false;
        match items {
            RangeItems::Pairs(pairs) => {
                for (key, elem) in pairs {
                    ran = true;
                    self.set_range_vars(&c.pipe, Some(Cow::Owned(key)), elem.clone());
                    let flow = self.walk_list(&elem, &c.list)?;
                    self.vars.truncate(body_mark);
                    if flow == Flow::Break {
                        break;
                    }
                }
            }
            RangeItems::Count(n) => {
                if c.pipe.decls.len() > 1 {
                    return Err(self.err(
                        at,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                let mut i = 0;
                while i < n {
                    ran = true;
                    let elem: Val<'a> = Some(Cow::Owned(Value::from(i as i64)));
                    self.set_range_vars(&c.pipe, None, elem.clone());
                    let flow = self.walk_list(&elem, &c.list)?;
                    self.vars.truncate(body_mark);
                    if flow == Flow::Break {
                        break;
                    }
                    i += 1;
                }
            }
        }
        if !ran {
            if let Some(else_list) = &c.else_list {
                self.walk_list(dot, else_list)?;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    /// `{{range $e := ...}}` sets `$e` to the element;
    /// `{{range $i, $e := ...}}` sets `$i` to the index/key as well.
    fn set_range_vars(&mut self, pipe: &Pipe, key: Val<'a>, elem: Val<'a>) {
        match pipe.decls.as_slice() {
            [] => {}
            [e] => self.set_var(e, elem),
            [k, e, ..] => {
                self.set_var(k, key);
                self.set_var(e, elem);
            }
        }
    }

    fn set_var(&mut self, name: &str, value: Val<'a>) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = value;
        }
    }

    fn eval_pipeline(&mut self, dot: &Val<'a>, pipe: &'a Pipe) -> R<Val<'a>> {
        let mut value: Option<Val<'a>> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(None);
        for name in &pipe.decls {
            if pipe.is_assign {
                self.set_var(name, value.clone());
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// `fin` is the value piped in from the previous command, if any.
    fn eval_command(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        fin: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { names, .. } => {
                return self.eval_field_chain(dot.clone(), first, names, &cmd.args, fin)
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, fin),
            Arg::Ident { name, .. } => {
                return self.eval_function(dot, name, first, At::Cmd(cmd), &cmd.args, fin)
            }
            Arg::Variable { .. } => return self.eval_variable(first, &cmd.args, fin),
            Arg::Pipe(p) => {
                self.not_a_function(first, &cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            _ => {}
        }
        self.not_a_function(first, &cmd.args, &fin)?;
        match first {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.err(At::Arg(first), "nil is not a command")),
            Arg::Literal { value, .. } => Ok(Some(Cow::Borrowed(value))),
            _ => unreachable!("handled above"),
        }
    }

    fn not_a_function(&self, first: &Arg, args: &[Arg], fin: &Option<Val<'a>>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.err(
                At::Arg(first),
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    /// Evaluates `receiver.names[0].names[1]...`; `args`/`fin` are the
    /// would-be arguments of the last field (an error for data fields).
    fn eval_field_chain(
        &mut self,
        receiver: Val<'a>,
        node: &Arg,
        names: &[String],
        args: &[Arg],
        fin: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let mut recv = receiver;
        let last = names.len().saturating_sub(1);
        for (i, name) in names.iter().enumerate() {
            let has_args = i == last && (args.len() > 1 || fin.is_some());
            recv = self.eval_field(node, name, has_args, recv)?;
        }
        Ok(recv)
    }

    fn eval_field(&self, node: &Arg, name: &str, has_args: bool, recv: Val<'a>) -> R<Val<'a>> {
        let Some(recv) = recv else {
            // A field of a missing value is missing too (Go's behaviour).
            return Ok(None);
        };
        if has_args || !matches!(recv.as_ref(), Value::Object(_)) {
            return Err(self.err(At::Arg(node), field_error(&recv, name, has_args)));
        }
        Ok(match recv {
            Cow::Borrowed(Value::Object(m)) => m.get(name).map(Cow::Borrowed),
            Cow::Owned(Value::Object(mut m)) => m.swap_remove(name).map(Cow::Owned),
            _ => unreachable!("checked to be an object"),
        })
    }

    fn eval_variable(&mut self, node: &Arg, args: &[Arg], fin: Option<Val<'a>>) -> R<Val<'a>> {
        let Arg::Variable { name, fields, .. } = node else {
            unreachable!("eval_variable on a non-variable");
        };
        let Some((_, value)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
            return Err(self.err(At::Arg(node), format!("undefined variable: {name}")));
        };
        let value = value.clone();
        if fields.is_empty() {
            self.not_a_function(node, args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(value, node, fields, args, fin)
    }

    fn eval_chain(
        &mut self,
        dot: &Val<'a>,
        node: &'a Arg,
        args: &[Arg],
        fin: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let Arg::Chain {
            node: inner,
            fields,
            ..
        } = node
        else {
            unreachable!("eval_chain on a non-chain");
        };
        if matches!(inner.as_ref(), Arg::Nil { .. }) {
            return Err(self.err(
                At::Arg(node),
                format!("indirection through explicit nil in {node}"),
            ));
        }
        let recv = self.eval_arg(dot, inner)?;
        self.eval_field_chain(recv, node, fields, args, fin)
    }

    /// Evaluates a function argument (identifiers are called without
    /// arguments, like Go).
    fn eval_arg(&mut self, dot: &Val<'a>, arg: &'a Arg) -> R<Val<'a>> {
        let alone = std::slice::from_ref(arg);
        match arg {
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Ok(Some(Cow::Owned(Value::Null))),
            Arg::Literal { value, .. } => Ok(Some(Cow::Borrowed(value))),
            Arg::Field { names, .. } => self.eval_field_chain(dot.clone(), arg, names, alone, None),
            Arg::Variable { .. } => self.eval_variable(arg, alone, None),
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Ident { name, .. } => {
                self.eval_function(dot, name, arg, At::Arg(arg), alone, None)
            }
            Arg::Chain { .. } => self.eval_chain(dot, arg, alone, None),
        }
    }

    /// Calls function `name`; `args[0]` is the identifier itself, `fin` the
    /// piped-in value (passed last).
    fn eval_function(
        &mut self,
        dot: &Val<'a>,
        name: &str,
        ident: &Arg,
        at: At<'_>,
        args: &'a [Arg],
        fin: Option<Val<'a>>,
    ) -> R<Val<'a>> {
        let operands = &args[1..];
        let given = operands.len() + usize::from(fin.is_some());
        let (min, max) = funcs::arity(name).unwrap_or((0, None));
        let count_ok = given >= min && max.is_none_or(|m| given <= m);
        if !count_ok {
            let msg = if max.is_some() {
                format!("wrong number of args for {name}: want {min} got {given}")
            } else {
                format!("wrong number of args for {name}: want at least {min} got {given}")
            };
            return Err(self.err(At::Arg(ident), msg));
        }
        if name == "and" || name == "or" {
            // Short-circuit: return the first falsy (and) / truthy (or)
            // operand, else the last one.
            let want = name == "or";
            let mut last = None;
            for a in operands {
                let v = self.eval_arg(dot, a)?;
                if funcs::truth(&v) == want {
                    return Ok(v);
                }
                last = Some(v);
            }
            return Ok(fin.or(last).unwrap_or(None));
        }
        let mut values = Vec::with_capacity(given);
        for a in operands {
            values.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = fin {
            values.push(f);
        }
        funcs::call(name, values).map_err(|e| match e {
            FnError::Call(m) => self.err(at, format!("error calling {name}: {m}")),
            FnError::Arg(m) => self.err(at, m),
        })
    }
}

/// What `range` iterates over: array elements (with indices), object
/// values in sorted key order (with keys), or 0..n for an integer n.
fn range_items(v: Cow<'_, Value>) -> Result<RangeItems<'_>, String> {
    fn sorted<T>(mut pairs: Vec<(String, T)>) -> Vec<(String, T)> {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
    }
    Ok(RangeItems::Pairs(match v {
        Cow::Borrowed(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, e)| (Value::from(i), Some(Cow::Borrowed(e))))
            .collect(),
        Cow::Owned(Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, e)| (Value::from(i), Some(Cow::Owned(e))))
            .collect(),
        Cow::Borrowed(Value::Object(m)) => sorted(m.iter().map(|(k, e)| (k.clone(), e)).collect())
            .into_iter()
            .map(|(k, e)| (Value::String(k), Some(Cow::Borrowed(e))))
            .collect(),
        Cow::Owned(Value::Object(m)) => sorted(m.into_iter().collect())
            .into_iter()
            .map(|(k, e)| (Value::String(k), Some(Cow::Owned(e))))
            .collect(),
        // A nil slice/map: no iterations, not an error.
        Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => Vec::new(),
        v => {
            if let Value::Number(n) = v.as_ref() {
                if let gofmt::Num::Int(i) = gofmt::num_class(n) {
                    return Ok(RangeItems::Count(i));
                }
            }
            return Err(format!(
                "range can't iterate over {}",
                gofmt::value_string(&v)
            ));
        }
    }))
}

fn field_error(recv: &Value, name: &str, has_args: bool) -> String {
    match recv {
        Value::Null => format!("nil pointer evaluating interface {{}}.{name}"),
        Value::Object(_) if has_args => format!("{name} is not a method but has arguments"),
        other => format!("can't evaluate field {name} in type {}", type_name(other)),
    }
}
