//! Evidence shown to a human: every event field, subject and header may come from an intruder on
//! a monitored host, so text bound for a terminal, a Markdown file, a CSV opened in a spreadsheet
//! or JSON embedded in an HTML page is escaped for that medium here, in one place. Raw values stay
//! raw where a program reads them (Parquet, JSON and NDJSON outputs).
//!
//! Terminal text: C0 and C1 control characters, DEL, and the Unicode bidirectional overrides and
//! isolates (which reorder what a reader sees, "Trojan Source") are written as `\xNN` or
//! `\u{NNNN}`, so an escape sequence can neither recolour the screen nor forge a line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for characters a terminal acts on instead of showing.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        || c == '\u{061c}'
}

/// Text safe for a terminal line: control characters (newlines and tabs included) and
/// bidirectional controls escaped, everything else unchanged.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_hostile(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Terminal text for a block the tool itself laid out over several lines (a table, a summary):
/// newlines stay, every other hostile character is escaped.
pub fn terminal_block(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_hostile(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split('\n').map(terminal).collect::<Vec<_>>().join("\n"))
}

/// Inline Markdown text (a table cell, text after a label; never the start of a line): terminal
/// escaping, then the characters that mark emphasis, code, links, strikethrough and table cells
/// behind a backslash, and `<`, `>`, `&` as entities so no HTML gets through.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in terminal(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// JSON text made safe to embed in an HTML `<script>` element: `<`, `>`, `&` and the line
/// separators JavaScript treats as newlines become `\uXXXX` escapes (still the same JSON).
pub fn json_for_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as text: unchanged where they are UTF-8, each byte of an invalid sequence written as
/// `\xNN` (so a payload that is not UTF-8 still shows what it holds; the raw bytes stay in the
/// data). Not escaped for a terminal: pass the result through [`terminal`] for that.
pub fn bytes_text(b: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 16);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// A CSV cell a spreadsheet will not run as a formula: text starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return gets a leading `'` (OWASP's advice for CSV injection).
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_what_a_terminal_would_act_on() {
        assert_eq!(terminal("ls -la /tmp"), "ls -la /tmp");
        assert_eq!(
            terminal("a\u{1b}[2J\u{1b}]0;pwned\u{7}b\nc\r"),
            "a\\x1b[2J\\x1b]0;pwned\\x07b\\x0ac\\x0d"
        );
        assert_eq!(terminal("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(terminal("\u{9b}31m"), "\\u{009b}31m");
        assert_eq!(terminal("naïve ✓ 日本"), "naïve ✓ 日本");
        assert_eq!(terminal_block("a\u{1b}\nb"), "a\\x1b\nb");
    }

    #[test]
    fn bytes_as_text() {
        assert_eq!(bytes_text(b"{\"a\":1}"), "{\"a\":1}");
        assert_eq!(
            bytes_text(b"ok\xff\xfe ok \xe2\x82"),
            "ok\\xff\\xfe ok \\xe2\\x82"
        );
        assert_eq!(bytes_text("naïve".as_bytes()), "naïve");
        assert_eq!(bytes_text(b""), "");
    }

    #[test]
    fn markdown_and_html_and_csv() {
        assert_eq!(markdown("a|b <img> *x*"), "a\\|b &lt;img&gt; \\*x\\*");
        assert_eq!(
            json_for_html(r#"{"s":"</script><!--<script>&"}"#),
            r#"{"s":"\u003c/script\u003e\u003c!--\u003cscript\u003e\u0026"}"#
        );
        let back: serde_json::Value =
            serde_json::from_str(&json_for_html(r#"{"s":"</script>&"}"#)).unwrap();
        assert_eq!(back["s"], "</script>&");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-2+3"), "'-2+3");
        assert_eq!(csv_cell("bash"), "bash");
    }
}
