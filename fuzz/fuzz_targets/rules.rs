//! Rule files from elsewhere (Falco YAML, Sigma YAML) on arbitrary bytes: never a panic, every
//! rule either compiled or refused with a reason, and a compiled rule's hunt file keeps the rule's
//! text in comment lines (a line break in a title cannot reach the SQL) with no `{{` that the hunt
//! runner would read as a parameter.
#![no_main]

#[path = "../../src/rules/falco/mod.rs"]
mod falco;
#[path = "../../src/rules/rule.rs"]
pub mod rule;
#[path = "../../src/rules/sigma.rs"]
mod sigma;
#[path = "../../src/fields.rs"]
mod fields;

/// The module path the compilers import through (`crate::rules::rule`).
mod rules {
    pub use crate::rule;
}

use libfuzzer_sys::fuzz_target;

fn check(h: &rule::Hunt) {
    assert!(!h.sql.contains("{{"), "{}", h.sql);
    let file = rule::hunt_file(h);
    let header = file.strip_suffix(&format!("{}\n", h.sql)).expect("the SQL ends the file");
    assert!(header.lines().all(|l| l.starts_with("-- ")), "{header}");
    // The writer's file reads back through the reader beside it.
    let back = rule::parse_hunt_file("x", &file).expect("a written hunt file reads back");
    assert_eq!(back.sql.trim(), h.sql.trim());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let events = if mode & 2 == 0 {
        rule::ProcessEvents::Any
    } else {
        rule::ProcessEvents::Exec
    };
    if mode & 1 == 0 {
        let opts = falco::Options {
            process_events: events,
            ..Default::default()
        };
        let c = falco::compile_texts(&[("f.yaml".into(), text)], &opts);
        c.hunts.iter().for_each(check);
        let rules: usize = c.files.iter().map(|f| f.rules).sum();
        assert_eq!(rules, c.hunts.len() + c.files.iter().map(|f| f.unsupported + f.disabled).sum::<usize>());
    } else if let Ok(h) = sigma::compile("x", &text, events) {
        check(&h);
    }
});
