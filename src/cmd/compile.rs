//! The rule compilers' commands: `sigma` and `falco`: their flags, the rule-file options
//! `hunt` shares, and how compiled and skipped rules are reported.

use super::*;

#[derive(Debug, Args)]
pub struct FalcoArgs {
    /// Falco rule files (or folders of .yaml files), loaded in this order as Falco loads them.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Write each compiled rule as a hunt file (RULE-NAME.sql) into this folder.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary (per-file counts, compiled hunts with their SQL, unsupported rules
    /// with reasons).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub rules_args: RuleArgs,
}

#[derive(Debug, Args)]
pub struct SigmaArgs {
    /// A Sigma rule (.yml) or a folder of rules (searched recursively).
    pub rules: PathBuf,
    #[command(flatten)]
    pub events: ProcessEventsArg,
    /// Write each compiled rule as a hunt file (RULE-NAME.sql) into this folder.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Print a JSON summary (compiled hunts with their SQL, unsupported rules with reasons).
    #[arg(long)]
    pub json: bool,
}

/// Rule files in a folder (Sigma and Falco both write YAML).
pub(super) const RULE_EXTS: [&str; 2] = ["yml", "yaml"];

pub(super) fn report_unsupported(kind: &str, skipped: &[pack::Unsupported]) {
    for u in skipped {
        eprintln!(
            "{kind}: skipped {} ({}): {}",
            escape::terminal(&u.file),
            escape::terminal(&u.title),
            escape::terminal(&u.reasons.join("; "))
        );
    }
}

pub(super) fn falco_options(a: &RuleArgs) -> Result<falco::Options> {
    let mut assume = std::collections::BTreeMap::new();
    for pair in &a.assume {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--assume {pair:?}: expected FIELD=VALUE")))?;
        assume.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(falco::Options {
        process_events: a.events.process_events,
        assume,
    })
}

/// Writes compiled rules as hunt files, prints them (SQL or a JSON summary) and the counts.
pub(super) fn emit_compiled(
    kind: &str,
    compiled: &[pack::Hunt],
    skipped: &[pack::Unsupported],
    output: Option<&std::path::Path>,
    json: Option<serde_json::Value>,
) -> Result<u8> {
    report_unsupported(kind, skipped);
    if let Some(dir) = output {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for h in compiled {
            let name = h.name.trim_start_matches(&format!("{kind}/"));
            let path = dir.join(format!("{name}.sql"));
            std::fs::write(&path, pack::hunt_file(h)).map_err(|e| Error::io(&path, e))?;
        }
    }
    if let Some(mut doc) = json {
        doc["compiled"] = compiled
            .iter()
            .map(|h| {
                serde_json::json!({
                    "name": h.name, "title": h.title, "severity": h.severity, "attack": h.attack,
                    "sql": h.sql,
                })
            })
            .collect();
        doc["unsupported"] = serde_json::to_value(skipped).expect("serializable");
        print_json(&doc)?;
    } else if output.is_none() {
        for h in compiled {
            print_text(&format!("-- {}\n{}\n", h.name, pack::hunt_file(h)))?;
        }
    }
    eprintln!(
        "{kind}: {} rules compiled, {} unsupported",
        compiled.len(),
        skipped.len()
    );
    if compiled.is_empty() {
        return Err(Error::Usage("no rule could be compiled".into()));
    }
    Ok(exit::OK)
}

pub(super) fn cmd_sigma(a: SigmaArgs) -> Result<u8> {
    let files = pack::rule_files(std::slice::from_ref(&a.rules), &RULE_EXTS, "Sigma rules")?;
    let (compiled, skipped) = sigma::compile_texts(&files, a.events.process_events);
    let json = a.json.then(|| serde_json::json!({}));
    emit_compiled("sigma", &compiled, &skipped, a.output.as_deref(), json)
}

pub(super) fn cmd_falco(a: FalcoArgs) -> Result<u8> {
    let files = pack::rule_files(&a.rules, &RULE_EXTS, "Falco rule files")?;
    let c = falco::compile_texts(&files, &falco_options(&a.rules_args)?);
    for f in &c.files {
        eprintln!(
            "falco: {}: {} rules, {} compiled, {} unsupported, {} disabled",
            escape::terminal(&f.file),
            f.rules,
            f.compiled,
            f.unsupported,
            f.disabled
        );
    }
    let json = a.json.then(|| serde_json::json!({ "files": c.files }));
    emit_compiled("falco", &c.hunts, &c.unsupported, a.output.as_deref(), json)
}
