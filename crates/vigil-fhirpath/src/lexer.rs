//! Tokenizer: turns expression text into tokens with their line:column, skipping whitespace and
//! `//` / `/* */` comments, and unescaping string literals and delimited identifiers.

use crate::error::{ParseError, ParseErrorKind, Position};

/// A token kind with its payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifier; `delimited` when written with backticks (never a keyword then).
    Ident { name: String, delimited: bool },
    /// String literal, unescaped.
    Str(String),
    /// Number literal as written (`12`, `1.50`), with `long` for a trailing `L`.
    Number { text: String, long: bool },
    /// `@...` date, dateTime or time literal, without the `@`.
    DateTime(String),
    /// `%name`, `%'name'` or `%`name``.
    External(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    /// Punctuation and operators.
    Punct(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident { name, .. } => format!("identifier '{name}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Number { text, .. } => format!("number {text}"),
            Tok::DateTime(t) => format!("date/time @{t}"),
            Tok::External(n) => format!("%{n}"),
            Tok::Special(n) => format!("${n}"),
            Tok::Punct(p) => format!("'{p}'"),
            Tok::Eof => "end of input".to_owned(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Position,
    /// Whether whitespace or a comment precedes the token.
    pub spaced: bool,
}

const PUNCTS: [&str; 21] = [
    "!=", "!~", "<=", ">=", ".", "(", ")", "[", "]", "{", "}", ",", "+", "-", "*", "/", "&", "|",
    "=", "~", "<",
];

struct Lexer<'s> {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    _src: &'s str,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        _src: src,
    };
    let mut out = Vec::new();
    loop {
        let spaced = lx.skip_trivia()?;
        let pos = lx.pos();
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                tok: Tok::Eof,
                pos,
                spaced,
            });
            return Ok(out);
        };
        let tok = lx.token(c, pos)?;
        out.push(Token { tok, pos, spaced });
    }
}

impl Lexer<'_> {
    fn pos(&self) -> Position {
        Position {
            line: self.line,
            column: self.col,
        }
    }

    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, pos: Position, expected: &str, found: String) -> ParseError {
        ParseError::new(ParseErrorKind::Syntax, pos, expected, found)
    }

    fn found_here(&self) -> String {
        match self.peek(0) {
            Some(c) => format!("'{c}'"),
            None => "end of input".to_owned(),
        }
    }

    fn skip_trivia(&mut self) -> Result<bool, ParseError> {
        let mut skipped = false;
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(0), self.peek(1)) {
                            (Some('*'), Some('/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            (Some(_), _) => {
                                self.bump();
                            }
                            (None, _) => {
                                return Err(self.err(
                                    start,
                                    "'*/' closing the comment",
                                    "end of input".into(),
                                ));
                            }
                        }
                    }
                }
                _ => return Ok(skipped),
            }
            skipped = true;
        }
    }

    fn token(&mut self, c: char, pos: Position) -> Result<Tok, ParseError> {
        if c.is_ascii_alphabetic() || c == '_' {
            return Ok(Tok::Ident {
                name: self.word(),
                delimited: false,
            });
        }
        if c.is_ascii_digit() {
            return Ok(self.number());
        }
        match c {
            '\'' => {
                self.bump();
                Ok(Tok::Str(self.quoted('\'', pos)?))
            }
            '`' => {
                self.bump();
                Ok(Tok::Ident {
                    name: self.quoted('`', pos)?,
                    delimited: true,
                })
            }
            '@' => {
                self.bump();
                self.datetime(pos)
            }
            '%' => {
                self.bump();
                match self.peek(0) {
                    Some('\'') => {
                        self.bump();
                        Ok(Tok::External(self.quoted('\'', pos)?))
                    }
                    Some('`') => {
                        self.bump();
                        Ok(Tok::External(self.quoted('`', pos)?))
                    }
                    Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                        Ok(Tok::External(self.word()))
                    }
                    _ => Err(self.err(self.pos(), "a variable name after '%'", self.found_here())),
                }
            }
            '$' => {
                self.bump();
                let w = if self.peek(0).is_some_and(|c| c.is_ascii_alphabetic()) {
                    self.word()
                } else {
                    String::new()
                };
                match w.as_str() {
                    "this" | "index" | "total" => Ok(Tok::Special(w)),
                    _ => Err(self.err(pos, "$this, $index or $total", format!("'${w}'"))),
                }
            }
            _ => {
                for p in PUNCTS {
                    if self.starts_with(p) {
                        for _ in 0..p.len() {
                            self.bump();
                        }
                        return Ok(Tok::Punct(p));
                    }
                }
                if c == '>' {
                    self.bump();
                    return Ok(Tok::Punct(">"));
                }
                Err(self.err(pos, "an expression", format!("'{c}'")))
            }
        }
    }

    fn starts_with(&self, p: &str) -> bool {
        p.chars()
            .enumerate()
            .all(|(k, pc)| self.peek(k) == Some(pc))
    }

    fn word(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_ascii_alphanumeric() || c == '_' {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    fn digits(&mut self, s: &mut String) -> usize {
        let mut n = 0;
        while let Some(c) = self.peek(0) {
            if !c.is_ascii_digit() {
                break;
            }
            s.push(c);
            self.bump();
            n += 1;
        }
        n
    }

    fn number(&mut self) -> Tok {
        let mut text = String::new();
        self.digits(&mut text);
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            text.push('.');
            self.bump();
            self.digits(&mut text);
        }
        let long = self.peek(0) == Some('L')
            && !self
                .peek(1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if long {
            self.bump();
        }
        Tok::Number { text, long }
    }

    fn quoted(&mut self, quote: char, start: Position) -> Result<String, ParseError> {
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(start, &format!("closing {quote}"), "end of input".into()));
            };
            if c == quote {
                return Ok(s);
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            let esc_pos = self.pos();
            let Some(e) = self.bump() else {
                return Err(self.err(esc_pos, "an escape sequence", "end of input".into()));
            };
            match e {
                '\'' | '"' | '`' | '\\' | '/' => s.push(e),
                'f' => s.push('\u{c}'),
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'u' => {
                    let mut hex = String::new();
                    for _ in 0..4 {
                        match self.peek(0) {
                            Some(h) if h.is_ascii_hexdigit() => {
                                hex.push(h);
                                self.bump();
                            }
                            _ => {
                                return Err(self.err(
                                    self.pos(),
                                    "four hex digits after \\u",
                                    self.found_here(),
                                ));
                            }
                        }
                    }
                    let code = u32::from_str_radix(&hex, 16).unwrap_or(0xFFFD);
                    s.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                other => {
                    return Err(self.err(
                        esc_pos,
                        "a valid escape sequence",
                        format!("'\\{other}'"),
                    ));
                }
            }
        }
    }

    /// Scans `@` literals: `YYYY[-MM[-DD]][T[hh[:mm[:ss[.fff]]]][tz]]` or `Thh[:mm[:ss[.fff]]]`.
    fn datetime(&mut self, pos: Position) -> Result<Tok, ParseError> {
        let mut s = String::new();
        if self.peek(0) == Some('T') {
            s.push('T');
            self.bump();
            if !self.time_part(&mut s) {
                return Err(self.err(
                    self.pos(),
                    "a time (hh:mm:ss) after '@T'",
                    self.found_here(),
                ));
            }
            return Ok(Tok::DateTime(s));
        }
        if self.digits(&mut s) != 4 {
            return Err(self.err(pos, "a date (YYYY-MM-DD) or time (Thh:mm:ss) after '@'", s));
        }
        for _ in 0..2 {
            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                s.push('-');
                self.bump();
                if self.digits(&mut s) != 2 {
                    return Err(self.err(pos, "two-digit month or day", format!("@{s}")));
                }
            } else {
                break;
            }
        }
        if self.peek(0) == Some('T') {
            s.push('T');
            self.bump();
            if self.time_part(&mut s) {
                self.timezone(&mut s);
            }
        }
        Ok(Tok::DateTime(s))
    }

    fn two_digits(&mut self, s: &mut String) -> bool {
        if self.peek(0).is_some_and(|c| c.is_ascii_digit())
            && self.peek(1).is_some_and(|c| c.is_ascii_digit())
        {
            for _ in 0..2 {
                if let Some(c) = self.bump() {
                    s.push(c);
                }
            }
            true
        } else {
            false
        }
    }

    fn time_part(&mut self, s: &mut String) -> bool {
        if !self.two_digits(s) {
            return false;
        }
        for _ in 0..2 {
            if self.peek(0) == Some(':') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                s.push(':');
                self.bump();
                if !self.two_digits(s) {
                    return true;
                }
            } else {
                return true;
            }
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            s.push('.');
            self.bump();
            self.digits(s);
        }
        true
    }

    fn timezone(&mut self, s: &mut String) {
        match self.peek(0) {
            Some('Z') => {
                s.push('Z');
                self.bump();
            }
            Some(c @ ('+' | '-'))
                if self.peek(1).is_some_and(|c| c.is_ascii_digit())
                    && self.peek(2).is_some_and(|c| c.is_ascii_digit())
                    && self.peek(3) == Some(':') =>
            {
                s.push(c);
                self.bump();
                self.two_digits(s);
                s.push(':');
                self.bump();
                self.two_digits(s);
            }
            _ => {}
        }
    }
}
