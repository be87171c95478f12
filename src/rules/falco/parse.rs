//! Falco conditions: the tokenizer and the parser into an expression tree, with macros and
//! lists expanded as they are named, within a depth and a size budget.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Open,
    Close,
    Comma,
    Quoted(String),
    Word(String),
    Op(String),
}

pub(super) fn tokenize(s: &str) -> std::result::Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("a quoted string is not closed".into()),
                        Some('\\') if b.get(i + 1).is_some() => {
                            v.push(b[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '=' | '!' | '<' | '>' => {
                let two: String = b[i..(i + 2).min(b.len())].iter().collect();
                let op = if ["==", "!=", "<=", ">="].contains(&two.as_str()) {
                    two
                } else if c == '!' {
                    return Err("a lone `!`".into());
                } else {
                    c.to_string()
                };
                i += op.len();
                out.push(Tok::Op(if op == "==" { "=".into() } else { op }));
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_whitespace() && !"(),\"'=!<>".contains(b[i]) {
                    i += 1;
                }
                out.push(Tok::Word(b[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

pub(super) const WORD_OPS: [&str; 14] = [
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "pmatch",
    "in",
    "intersects",
    "exists",
    "regex",
    "bicontains",
];

#[derive(Debug, Clone)]
pub(super) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: String,
        values: Vec<String>,
        list: bool,
    },
}

pub(super) struct Parser<'a> {
    pub(super) toks: Vec<Tok>,
    pub(super) at: usize,
    pub(super) defs: &'a Defs,
    pub(super) depth: usize,
    /// Tokens and list items the rule's condition may still expand to, shared by the macros
    /// it names: depth alone does not bound the size (a macro naming the next twice doubles
    /// at every level).
    pub(super) budget: std::rc::Rc<std::cell::Cell<usize>>,
}

/// Tokens and list items (macros and lists expanded) one condition may grow to. The largest
/// upstream rule's condition expands to a few thousand.
pub(super) const MAX_EXPANDED: usize = 100_000;

pub(super) type Parsed<T> = std::result::Result<T, String>;

impl<'a> Parser<'a> {
    pub(super) fn new(text: &str, defs: &'a Defs, depth: usize) -> Parsed<Self> {
        let budget = std::rc::Rc::new(std::cell::Cell::new(MAX_EXPANDED));
        Self::with_budget(text, defs, depth, budget)
    }

    pub(super) fn with_budget(
        text: &str,
        defs: &'a Defs,
        depth: usize,
        budget: std::rc::Rc<std::cell::Cell<usize>>,
    ) -> Parsed<Self> {
        let parser = Self {
            toks: tokenize(text)?,
            at: 0,
            defs,
            depth,
            budget,
        };
        parser.spend(parser.toks.len())?;
        Ok(parser)
    }

    /// Takes `n` from the budget, or fails once it is spent.
    pub(super) fn spend(&self, n: usize) -> Parsed<()> {
        match self.budget.get().checked_sub(n) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(format!(
                "the condition expands to more than {MAX_EXPANDED} tokens and list items \
                 (macros or lists that name each other many times over)"
            )),
        }
    }

    pub(super) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    pub(super) fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    pub(super) fn whole(mut self) -> Parsed<Expr> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t:?} after a complete condition")),
        }
    }

    /// `item (word item)*`, as one `make` node when there is more than one.
    pub(super) fn chain(
        &mut self,
        word: &str,
        item: fn(&mut Self) -> Parsed<Expr>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Parsed<Expr> {
        let mut parts = vec![item(self)?];
        while self.is_word(word) {
            self.next();
            parts.push(item(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            make(parts)
        })
    }

    pub(super) fn or(&mut self) -> Parsed<Expr> {
        self.chain("or", Self::and, Expr::Or)
    }

    pub(super) fn and(&mut self) -> Parsed<Expr> {
        self.chain("and", Self::not, Expr::And)
    }

    pub(super) fn not(&mut self) -> Parsed<Expr> {
        if self.is_word("not") {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    pub(super) fn atom(&mut self) -> Parsed<Expr> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Tok::Word(w)) => {
                let op = match self.peek() {
                    Some(Tok::Op(o)) => Some(o.clone()),
                    Some(Tok::Word(o)) if WORD_OPS.contains(&o.as_str()) => Some(o.clone()),
                    Some(Tok::Open) => {
                        return Err(format!("{w}(...): field transformers are not supported"))
                    }
                    _ => None,
                };
                match op {
                    Some(op) => {
                        self.next();
                        self.comparison(w, op)
                    }
                    None => self.macro_use(&w),
                }
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("the condition ends early".into()),
        }
    }

    pub(super) fn macro_use(&mut self, name: &str) -> Parsed<Expr> {
        let Some(cond) = self.defs.macros.get(name) else {
            return Err(format!(
                "{name:?} is neither a macro nor a field with an operator"
            ));
        };
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "macro {name:?} nests more than {MAX_NESTING} deep (a cycle?)"
            ));
        }
        Parser::with_budget(cond, self.defs, self.depth + 1, self.budget.clone())?
            .whole()
            .map_err(|e| format!("in macro {name}: {e}"))
    }

    pub(super) fn value(&mut self) -> Parsed<String> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                if self.peek() == Some(&Tok::Open) {
                    return Err(format!(
                        "{w}(...) as a value (field comparison or transformer) is not supported"
                    ));
                }
                Ok(w)
            }
            // `evt.dir = <`
            Some(Tok::Op(o)) if o == "<" || o == ">" => Ok(o),
            other => Err(format!("expected a value, found {other:?}")),
        }
    }

    pub(super) fn expand(&self, item: &str, out: &mut Vec<String>, depth: usize) -> Parsed<()> {
        self.spend(1)?;
        match self.defs.lists.get(item) {
            Some(items) if depth < MAX_NESTING => {
                for i in items {
                    self.expand(i, out, depth + 1)?;
                }
                Ok(())
            }
            Some(_) => Err(format!("list {item:?} nests too deep (a cycle?)")),
            None => {
                // Items are condition tokens: `'"10.0.0.0/8"'` in YAML is the quoted string.
                let unquoted = ['"', '\'']
                    .iter()
                    .find_map(|q| item.strip_prefix(*q).and_then(|i| i.strip_suffix(*q)));
                out.push(unquoted.unwrap_or(item).to_string());
                Ok(())
            }
        }
    }

    pub(super) fn comparison(&mut self, field: String, op: String) -> Parsed<Expr> {
        let mut values = Vec::new();
        let mut list = false;
        match op.as_str() {
            "exists" => {}
            "in" | "intersects" | "pmatch" => {
                list = true;
                if self.next() != Some(Tok::Open) {
                    return Err(format!("{field} {op} needs a parenthesised list"));
                }
                loop {
                    match self.next() {
                        Some(Tok::Close) => break,
                        Some(Tok::Comma) => {}
                        Some(Tok::Word(w)) => self.expand(&w, &mut values, 0)?,
                        Some(Tok::Quoted(q)) => values.push(q),
                        other => return Err(format!("unexpected {other:?} in a list")),
                    }
                }
            }
            _ => {
                let v = self.value()?;
                // A list name as a scalar value is a Falco error too; compare with its text.
                values.push(v);
            }
        }
        Ok(Expr::Cmp {
            field,
            op,
            values,
            list,
        })
    }
}
