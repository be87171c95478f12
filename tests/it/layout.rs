//! The wings' import rule, read from the source: `nats/` and `lake/` import no other wing;
//! `jobs/` uses both but none of `rules/`, `sql/`, `hunt/`; `rules/` imports no other wing and
//! no engine crate (it is text in, hunts out); `sql/` never imports `nats/`, `jobs/` or `hunt/`;
//! `hunt/` never imports `nats/` or `jobs/`. Also the outside crates that mark a wing's trade:
//! no Arrow, Parquet or DataFusion in `nats/`, no async-nats in `lake/`, `sql/` or `hunt/`. A
//! later change that breaks the rule fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `crate::` modules a source file names, `use` lines and inline paths alike (grouped
/// imports such as `use crate::{a::X, b}` included), comments and string literals left out.
fn crate_modules(src: &str) -> BTreeSet<String> {
    let code = strip_comments_and_strings(src);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` in macros and identifiers ending in `crate` are not this crate's paths.
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let mut level = 0;
            let mut start = 0;
            let inner = &group[..end];
            for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        found.extend(head(inner[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.extend(head(rest));
        }
    }
    found
}

/// The identifier a path starts with, if it starts with one.
fn head(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The source with comments and string contents blanked, so a doc line that mentions
/// `crate::nats` does not count as an import.
fn strip_comments_and_strings(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            _ => out.push(c),
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read src folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Outside crates a wing's files may not name (as `name::` paths or `use name`).
fn foreign_crates(src: &str, crates: &[&str]) -> Vec<String> {
    let code = strip_comments_and_strings(src);
    crates
        .iter()
        .filter(|name| {
            code.match_indices(&format!("{name}::")).any(|(i, _)| {
                !code[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            })
        })
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn wings_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // (wing, crate modules it must not import, outside crates it must not use)
    let rules: [(&str, &[&str], &[&str]); 6] = [
        (
            "nats",
            &["lake", "jobs", "rules", "sql", "hunt", "cmd"],
            &["arrow", "parquet", "datafusion", "object_store"],
        ),
        (
            "lake",
            &["nats", "jobs", "rules", "sql", "hunt", "cmd"],
            &["async_nats"],
        ),
        ("jobs", &["rules", "sql", "hunt", "cmd"], &[]),
        (
            "rules",
            &["nats", "lake", "jobs", "sql", "hunt", "cmd"],
            &[
                "arrow",
                "parquet",
                "datafusion",
                "object_store",
                "async_nats",
                "ballista",
                "ballista_core",
                "ballista_executor",
                "ballista_scheduler",
                "deltalake",
            ],
        ),
        ("sql", &["nats", "jobs", "hunt", "cmd"], &["async_nats"]),
        ("hunt", &["nats", "jobs", "cmd"], &["async_nats"]),
    ];
    let mut broken = Vec::new();
    let mut checked = 0;
    for (wing, banned, banned_crates) in rules {
        let files = rust_files(&src.join(wing));
        assert!(
            files.iter().any(|f| f.ends_with("mod.rs")),
            "src/{wing}/mod.rs is missing: the wing layout changed without this test"
        );
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            let rel = file.strip_prefix(&src).unwrap().display().to_string();
            for m in crate_modules(&text) {
                if banned.contains(&m.as_str()) {
                    broken.push(format!("src/{rel} imports crate::{m}"));
                }
            }
            for c in foreign_crates(&text, banned_crates) {
                broken.push(format!("src/{rel} uses the {c} crate"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} files under the wings");
    assert!(
        broken.is_empty(),
        "imports against the wing rule:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_import() {
    let src = r#"
        //! crate::hunt in a doc comment does not count
        use crate::lake::batch::X;
        use crate::{nats::plan, jobs::{export, archive}};
        fn f() { crate::hunt::query::open(); let s = "crate::cli"; $crate::x(); }
        /* crate::commands */
    "#;
    let found: Vec<String> = crate_modules(src).into_iter().collect();
    assert_eq!(found, ["hunt", "jobs", "lake", "nats"]);
    assert_eq!(
        foreign_crates(
            "use async_nats::HeaderMap; // arrow::x",
            &["async_nats", "arrow"]
        ),
        ["async_nats"]
    );
    assert!(foreign_crates("use datafusion::arrow::array;", &["arrow"]).is_empty());
}

/// README's exit-code table and `jsreplay --help` list exactly the codes of the library's table
/// (`jsreplay::error::exit::TABLE`), so the three cannot drift apart again.
#[test]
fn exit_codes_agree_everywhere() {
    let table: Vec<u8> = jsreplay::error::exit::TABLE
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("## Exit codes")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has an Exit codes section");
    let documented: Vec<u8> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert_eq!(documented, table, "README's exit codes");
    let help = crate::run::Run::new(["--help"]).output();
    let help = String::from_utf8_lossy(&help.stdout);
    let listed: Vec<u8> = help
        .split("Exit codes:")
        .nth(1)
        .expect("--help lists the exit codes")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|c| c.parse().ok())
        .collect();
    assert_eq!(listed, table, "--help's exit codes");
}

/// No source file grows past 900 lines: a file that long does several jobs (split it by job,
/// as `rules/falco/`, `lake/decode/` and `jobs/archive/` are).
#[test]
fn no_source_file_is_over_900_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = rust_files(&src)
        .into_iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(&f)
                .expect("read source")
                .lines()
                .count();
            (lines > 900).then(|| format!("{} has {lines} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
