//! Parser for the Go `text/template` language (Go's `text/template/parse`
//! grammar, minus `define`/`template`/`block`).

use crate::funcs;
use crate::gofmt::go_quote;
use crate::lex::{lex, Kind, Token};
use crate::TemplateError;
use serde_json::Value;
use std::fmt;

/// Nesting limit for control structures and parentheses (keeps recursion
/// bounded for hostile input).
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decls: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.A.B` (names without dots).
    Field {
        pos: usize,
        names: Vec<String>,
    },
    /// `$x.A.B` (`name` includes the `$`).
    Variable {
        pos: usize,
        name: String,
        fields: Vec<String>,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    /// A literal: bool, number or string, with its source text.
    Literal {
        pos: usize,
        text: String,
        value: Value,
    },
    Ident {
        pos: usize,
        name: String,
    },
    Pipe(Box<Pipe>),
    /// `(pipe).A.B` or `fn.A`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Literal { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Display mirrors Go's Node.String(), used in execution error contexts.

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decls.is_empty() {
            f.write_str(&self.decls.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match a {
                Arg::Pipe(p) => write!(f, "({p})")?,
                a => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { names, .. } => {
                for n in names {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Variable { name, fields, .. } => {
                f.write_str(name)?;
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Literal { text, .. } => f.write_str(text),
            Arg::Ident { name, .. } => f.write_str(name),
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                for n in fields {
                    write!(f, ".{n}")?;
                }
                Ok(())
            }
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &[Node]) -> fmt::Result {
    list.iter().try_for_each(|n| write!(f, "{n}"))
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (word, c) = match self {
            Node::Text(t) => return f.write_str(t),
            Node::Action(p) => return write!(f, "{{{{{p}}}}}"),
            Node::Break => return f.write_str("{{break}}"),
            Node::Continue => return f.write_str("{{continue}}"),
            Node::If(c) => ("if", c),
            Node::Range(c) => ("range", c),
            Node::With(c) => ("with", c),
        };
        write!(f, "{{{{{word} {}}}}}", c.pipe)?;
        write_list(f, &c.list)?;
        if let Some(e) = &c.else_list {
            f.write_str("{{else}}")?;
            write_list(f, e)?;
        }
        f.write_str("{{end}}")
    }
}

/// Parses template source into a node list.
pub(crate) fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser {
        toks: lex(src),
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_line: 0,
        line: 1,
        depth: 0,
    };
    p.parse_root()
}

/// What `text_or_action` found.
enum Item {
    Node(Node),
    End,
    Else,
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Variables in scope (for "undefined variable" checks).
    vars: Vec<String>,
    range_depth: usize,
    /// Line of the action being parsed (0 outside actions).
    action_line: usize,
    /// Line of the most recently examined token (used in messages).
    line: usize,
    depth: usize,
}

type PResult<T> = Result<T, TemplateError>;

impl Parser {
    fn err(&self, message: impl Into<String>) -> TemplateError {
        TemplateError::Parse {
            line: self.line,
            message: message.into(),
        }
    }

    fn token_at(&mut self) -> PResult<Token> {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        self.line = t.line;
        if t.kind == Kind::Error {
            let mut msg = t.val.clone();
            if self.action_line != 0 && self.action_line != t.line {
                msg.push_str(&format!(" in action started at :{}", self.action_line));
            }
            return Err(self.err(msg));
        }
        Ok(t)
    }

    fn next(&mut self) -> PResult<Token> {
        let t = self.token_at()?;
        self.i += 1;
        Ok(t)
    }

    fn peek(&mut self) -> PResult<Token> {
        self.token_at()
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn next_non_space(&mut self) -> PResult<Token> {
        loop {
            let t = self.next()?;
            if t.kind != Kind::Space {
                return Ok(t);
            }
        }
    }

    fn peek_non_space(&mut self) -> PResult<Token> {
        let t = self.next_non_space()?;
        self.backup();
        Ok(t)
    }

    fn unexpected(&self, t: &Token, context: &str) -> TemplateError {
        let shown = if t.kind == Kind::Eof {
            "EOF".to_string()
        } else if t.kind.is_keyword() {
            format!("<{}>", t.val)
        } else if t.val.chars().count() > 10 {
            let head: String = t.val.chars().take(10).collect();
            format!("{}...", go_quote(&head))
        } else {
            go_quote(&t.val)
        };
        self.err(format!("unexpected {shown} in {context}"))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let t = self.next_non_space()?;
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("max expression depth exceeded"));
        }
        Ok(())
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut nodes = Vec::new();
        while self.peek()?.kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => nodes.push(n),
                Item::End => return Err(self.err("unexpected {{end}}")),
                Item::Else => return Err(self.err("unexpected {{else}}")),
            }
        }
        Ok(nodes)
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space()?;
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text(t.val))),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    /// Parses list items until `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        loop {
            if self.peek_non_space()?.kind == Kind::Eof {
                return Err(self.err("unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space()?;
        match t.kind {
            Kind::Block | Kind::Define | Kind::Template => Err(self.err(format!(
                "{{{{{}}}}} is not supported in format templates",
                t.val
            ))),
            Kind::Break | Kind::Continue => {
                let word = format!("{{{{{}}}}}", t.val);
                self.expect(Kind::RightDelim, &word)?;
                if self.range_depth == 0 {
                    return Err(self.err(format!("{word} outside {{{{range}}}}")));
                }
                Ok(Item::Node(if t.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Kind::Else => {
                // `else if` / `else with`: leave the keyword pending for
                // the enclosing control to pick up.
                let p = self.peek_non_space()?;
                if !matches!(p.kind, Kind::If | Kind::With) {
                    self.expect(Kind::RightDelim, "else")?;
                }
                Ok(Item::Else)
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                Ok(Item::End)
            }
            Kind::If => Ok(Item::Node(Node::If(self.control("if")?))),
            Kind::Range => Ok(Item::Node(Node::Range(self.control("range")?))),
            Kind::With => Ok(Item::Node(Node::With(self.control("with")?))),
            _ => {
                self.backup();
                let pipe = self.pipeline("command", Kind::RightDelim)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn control(&mut self, context: &str) -> PResult<Control> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        let is_range = context == "range";
        if is_range {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if is_range {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else = next {
            let t = self.peek()?;
            if context == "if" && t.kind == Kind::If {
                self.next()?;
                else_list = Some(vec![Node::If(self.control("if")?)]);
            } else if context == "with" && t.kind == Kind::With {
                self.next()?;
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Item::End) {
                    return Err(self.err("expected end; found {{else}}"));
                }
                else_list = Some(list);
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let pos = self.peek_non_space()?.pos;
        let mut decls = Vec::new();
        let mut is_assign = false;
        loop {
            let v = self.peek_non_space()?;
            if v.kind != Kind::Variable {
                break;
            }
            let save = self.i;
            self.next()?;
            let nxt = self.peek_non_space()?;
            match nxt.kind {
                Kind::Assign | Kind::Declare => {
                    self.next_non_space()?;
                    is_assign = nxt.kind == Kind::Assign;
                    if is_assign {
                        if !self.vars.contains(&v.val) {
                            return Err(
                                self.err(format!("undefined variable {}", go_quote(&v.val)))
                            );
                        }
                    } else {
                        self.vars.push(v.val.clone());
                    }
                    decls.push(v.val);
                    break;
                }
                Kind::Char if nxt.val == "," => {
                    self.next_non_space()?;
                    self.vars.push(v.val.clone());
                    decls.push(v.val);
                    if context == "range" && decls.len() < 2 {
                        let p = self.peek_non_space()?;
                        if matches!(p.kind, Kind::Variable | Kind::RightDelim | Kind::RightParen) {
                            continue;
                        }
                        return Err(self.err("range can only initialize variables"));
                    }
                    return Err(self.err(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        let mut cmds: Vec<Command> = Vec::new();
        loop {
            let t = self.next_non_space()?;
            if t.kind == end {
                if cmds.is_empty() {
                    return Err(self.err(format!("missing value for {context}")));
                }
                for (i, c) in cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Literal { .. } | Arg::Dot { .. } | Arg::Nil { .. }
                    ) {
                        return Err(self.err(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                return Ok(Pipe {
                    pos,
                    is_assign,
                    decls,
                    cmds,
                });
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConst
                | Kind::Dot
                | Kind::Field
                | Kind::Ident
                | Kind::Number
                | Kind::Nil
                | Kind::RawStr
                | Kind::Str
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space()?.pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space()?;
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next()?;
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err("empty command"));
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek()?.kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek()?.pos;
        let mut more = Vec::new();
        while self.peek()?.kind == Kind::Field {
            more.push(self.next()?.val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut names, .. } => {
                names.extend(more);
                Arg::Field {
                    pos: chain_pos,
                    names,
                }
            }
            Arg::Variable {
                name, mut fields, ..
            } => {
                fields.extend(more);
                Arg::Variable {
                    pos: chain_pos,
                    name,
                    fields,
                }
            }
            n @ (Arg::Literal { .. } | Arg::Nil { .. } | Arg::Dot { .. }) => {
                return Err(self.err(format!(
                    "unexpected . after term {}",
                    go_quote(&n.to_string())
                )))
            }
            n => Arg::Chain {
                pos: chain_pos,
                node: Box::new(n),
                fields: more,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space()?;
        let pos = t.pos;
        Ok(Some(match t.kind {
            Kind::Ident => {
                if funcs::arity(&t.val).is_none() {
                    return Err(self.err(format!("function {} not defined", go_quote(&t.val))));
                }
                Arg::Ident { pos, name: t.val }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                if !self.vars.contains(&t.val) {
                    return Err(self.err(format!("undefined variable {}", go_quote(&t.val))));
                }
                Arg::Variable {
                    pos,
                    name: t.val,
                    fields: Vec::new(),
                }
            }
            Kind::Field => Arg::Field {
                pos,
                names: vec![t.val[1..].to_string()],
            },
            Kind::Bool => Arg::Literal {
                pos,
                value: Value::Bool(t.val == "true"),
                text: t.val,
            },
            Kind::Number | Kind::CharConst => {
                let value = if t.kind == Kind::CharConst {
                    parse_char(&t.val).ok_or_else(|| {
                        self.err(format!("malformed character constant: {}", t.val))
                    })?
                } else {
                    parse_number(&t.val).ok_or_else(|| {
                        self.err(format!("illegal number syntax: {}", go_quote(&t.val)))
                    })?
                };
                Arg::Literal {
                    pos,
                    text: t.val,
                    value,
                }
            }
            Kind::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                self.depth -= 1;
                Arg::Pipe(Box::new(p))
            }
            Kind::Str | Kind::RawStr => {
                let s = unquote(&t.val).ok_or_else(|| self.err("invalid syntax"))?;
                Arg::Literal {
                    pos,
                    text: t.val,
                    value: Value::String(s),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go number literal (as accepted by `strconv.ParseInt/ParseFloat` with
/// base prefixes and underscores) to a JSON number.
fn parse_number(text: &str) -> Option<Value> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix_int = |digits: &str, radix: u32| u128::from_str_radix(digits, radix).ok();
    let magnitude: Option<u128> = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains(['.', 'p']) {
            return None; // hex floats are not supported
        }
        radix_int(h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        radix_int(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        radix_int(b, 2)
    } else if lower.contains(['.', 'e']) {
        if lower.contains('i') {
            return None;
        }
        let f: f64 = clean.parse().ok()?;
        let f = if neg { -f } else { f };
        return serde_json::Number::from_f64(f).map(Value::Number);
    } else if lower.len() > 1 && lower.starts_with('0') {
        radix_int(&lower[1..], 8)
    } else {
        radix_int(&lower, 10)
    };
    let m = magnitude?;
    if neg {
        let v = i64::try_from(m)
            .ok()
            .map(|v| -v)
            .or_else(|| (m == 1u128 << 63).then_some(i64::MIN))?;
        Some(Value::from(v))
    } else if let Ok(v) = i64::try_from(m) {
        Some(Value::from(v))
    } else {
        u64::try_from(m).ok().map(Value::from)
    }
}

/// Go character constant (`'a'`, `'\n'`, `'\u00e9'`) to its code point.
fn parse_char(text: &str) -> Option<Value> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars().peekable();
    let c = unquote_char(&mut chars, '\'')?;
    if chars.next().is_some() {
        return None;
    }
    Some(Value::from(u32::from(c)))
}

/// Go's `strconv.Unquote` for `"..."` and `` `...` `` literals.
fn unquote(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('`') {
        return Some(raw.strip_suffix('`')?.replace('\r', ""));
    }
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        out.push(unquote_char(&mut chars, '"')?);
    }
    Some(out)
}

fn unquote_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) -> Option<char> {
    let c = chars.next()?;
    if c == quote || c == '\n' {
        return None;
    }
    if c != '\\' {
        return Some(c);
    }
    let e = match chars.next()? {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        q @ ('\'' | '"') if q == quote => q,
        // Byte escapes above 0x7f would be invalid UTF-8 in Go; use U+FFFD.
        'x' => char::from_u32(read_hex(chars, 2)?)
            .filter(char::is_ascii)
            .unwrap_or('\u{FFFD}'),
        'u' => char::from_u32(read_hex(chars, 4)?)?,
        'U' => char::from_u32(read_hex(chars, 8)?)?,
        d @ '0'..='7' => {
            let mut v = d.to_digit(8)?;
            for _ in 0..2 {
                v = v * 8 + chars.next()?.to_digit(8)?;
            }
            if v > 255 {
                return None;
            }
            char::from_u32(v)
                .filter(char::is_ascii)
                .unwrap_or('\u{FFFD}')
        }
        _ => return None,
    };
    Some(e)
}

fn read_hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        v = v.checked_mul(16)? + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perr(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(Value::from(42)));
        assert_eq!(parse_number("-3"), Some(Value::from(-3)));
        assert_eq!(parse_number("0x1F"), Some(Value::from(31)));
        assert_eq!(parse_number("0o17"), Some(Value::from(15)));
        assert_eq!(parse_number("017"), Some(Value::from(15)));
        assert_eq!(parse_number("0b101"), Some(Value::from(5)));
        assert_eq!(parse_number("1_000"), Some(Value::from(1000)));
        assert_eq!(parse_number("1.5"), Some(Value::from(1.5)));
        assert_eq!(parse_number("1e3"), Some(Value::from(1000.0)));
        assert_eq!(parse_number(".5"), Some(Value::from(0.5)));
        assert_eq!(parse_number("09"), None);
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_number("1i"), None);
        assert_eq!(parse_char("'a'"), Some(Value::from(97)));
        assert_eq!(parse_char(r"'\n'"), Some(Value::from(10)));
        assert_eq!(parse_char("'ab'"), None);
    }

    #[test]
    fn strings() {
        assert_eq!(unquote(r#""a\tb\"c\u00e9\x41\101""#).unwrap(), "a\tb\"céAA");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert_eq!(unquote(r#""\q""#), None);
    }

    #[test]
    fn node_strings() {
        let nodes = parse(r#"{{$x := index .A "k" | printf "%s"}}{{(.A).B}}"#).unwrap();
        assert_eq!(
            nodes[0].to_string(),
            r#"{{$x := index .A "k" | printf "%s"}}"#
        );
        assert_eq!(nodes[1].to_string(), "{{(.A).B}}");
        let nodes = parse("{{if .A}}x{{else}}y{{end}}").unwrap();
        assert_eq!(nodes[0].to_string(), "{{if .A}}x{{else}}y{{end}}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            perr("{{foo}}"),
            r#"template: :1: function "foo" not defined"#
        );
        assert_eq!(perr("{{.A"), "template: :1: unclosed action");
        assert_eq!(perr("a\n{{if .A}}"), "template: :2: unexpected EOF");
        assert_eq!(perr("{{end}}"), "template: :1: unexpected {{end}}");
        assert_eq!(perr("{{else}}"), "template: :1: unexpected {{else}}");
        assert_eq!(perr("{{}}"), "template: :1: missing value for command");
        assert_eq!(perr("{{if}}{{end}}"), "template: :1: missing value for if");
        assert_eq!(perr("{{$x}}"), r#"template: :1: undefined variable "$x""#);
        assert_eq!(
            perr("{{break}}"),
            "template: :1: {{break}} outside {{range}}"
        );
        assert_eq!(
            perr("{{.A | 1}}"),
            "template: :1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            perr("{{.A #}}"),
            r##"template: :1: unexpected "#" in operand"##
        );
        assert_eq!(perr("{{end x}}"), r#"template: :1: unexpected "x" in end"#);
        assert_eq!(
            perr(r#"{{"a".B}}"#),
            r#"template: :1: unexpected . after term "\"a\"""#
        );
        assert_eq!(
            perr("{{range $a, $b, $c := .}}{{end}}"),
            "template: :1: too many declarations in range"
        );
        assert_eq!(
            perr("{{if .A}}{{else}}{{else}}{{end}}"),
            "template: :1: expected end; found {{else}}"
        );
        assert_eq!(
            perr(r#"{{template "x"}}"#),
            "template: :1: {{template}} is not supported in format templates"
        );
        assert_eq!(perr("{{(.A}}"), "template: :1: unclosed left paren");
        assert_eq!(
            perr("{{.A\n.B"),
            "template: :2: unclosed action in action started at :1"
        );
        let deep = format!("{{{{{}1{}}}}}", "(".repeat(200), ")".repeat(200));
        assert_eq!(perr(&deep), "template: :1: max expression depth exceeded");
    }

    #[test]
    fn variable_scopes() {
        assert!(parse("{{$x := 1}}{{$x}}").is_ok());
        assert!(parse("{{range $i, $e := .}}{{$i}}{{$e}}{{end}}").is_ok());
        assert_eq!(
            perr("{{if true}}{{$x := 1}}{{end}}{{$x}}"),
            r#"template: :1: undefined variable "$x""#
        );
        assert_eq!(
            perr("{{range $e := .}}{{end}}{{$e}}"),
            r#"template: :1: undefined variable "$e""#
        );
        assert_eq!(
            perr("{{$y = 1}}"),
            r#"template: :1: undefined variable "$y""#
        );
    }
}
