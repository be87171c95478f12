//! Hunt reports: one self-contained file (HTML or Markdown) with the summary of every hunt, each
//! host's activity over time with the hits marked, each hunt's rows, and the process tree around
//! each hit. The HTML has no external resource (styles, data and the small chart script are
//! inline), so it can be mailed or attached to a ticket and opened offline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::escape;
use crate::hunt::run::HuntResult;
use crate::hunt::story::{self, Stories, Story};
use crate::hunt::tree::Forest;
use crate::rules::pack::Severity;
use crate::sql::query;

/// Rows shown per hunt (the JSON output has them all).
const MAX_ROWS: usize = 200;
/// Process trees drawn per hunt.
const MAX_TREES: usize = 8;
/// Hit sequences marked on the chart and looked up for trees: the first this many. A hunt
/// that returns millions of rows still makes a report of bounded size and time.
const MAX_MARKED: usize = 5_000;
/// Points on the activity chart's time axis.
const BUCKETS: i64 = 240;

/// Everything a report shows, gathered once for both formats.
pub struct Report {
    pub title: String,
    pub dataset: String,
    pub generated: String,
    pub results: Vec<HuntResult>,
    /// Host -> (bucket start µs, events).
    pub activity: BTreeMap<String, Vec<(i64, i64)>>,
    pub bucket_us: i64,
    /// (host, time µs, hunt, severity, seq) of every hit.
    pub hits: Vec<(String, i64, String, Severity, i64)>,
    /// Hunt name -> rendered process trees around its hits.
    pub trees: BTreeMap<String, Vec<String>>,
    /// Distinct hit sequences in all; only the first `MAX_MARKED` (5,000) are marked.
    pub hit_seqs: usize,
    /// The hits linked into attack stories.
    pub stories: Stories,
}

impl Report {
    /// Gathers the chart data and process trees for `results` from the dataset in `ctx`.
    pub async fn build(
        ctx: &SessionContext,
        dataset: &str,
        results: Vec<HuntResult>,
    ) -> Result<Report> {
        let span = query::collect_last(
            ctx,
            "SELECT CAST(min(event_time) AS BIGINT), CAST(max(event_time) AS BIGINT) FROM events",
        )
        .await?;
        let (lo, hi) = span
            .first()
            .filter(|b| b.num_rows() > 0 && !b.column(0).is_null(0))
            .map(|b| {
                let v = |i: usize| b.column(i).as_primitive::<Int64Type>().value(0);
                (v(0), v(1))
            })
            .unwrap_or((0, 0));
        let bucket_us = ((hi - lo) / BUCKETS).max(1_000_000);
        let mut activity: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        let counts = query::collect_last(
            ctx,
            &format!(
                "SELECT coalesce(collector_id, '(unknown)') AS host, \
                 (CAST(event_time AS BIGINT) - {lo}) / {bucket_us} AS b, \
                 count(*) AS n FROM events WHERE event_time IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
            ),
        )
        .await?;
        for b in &counts {
            let host = b.column(0).as_string::<i32>();
            let bucket = b.column(1).as_primitive::<Int64Type>();
            let n = b.column(2).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                activity
                    .entry(host.value(i).to_string())
                    .or_default()
                    .push((lo + bucket.value(i) * bucket_us, n.value(i)));
            }
        }

        // Where and when each hit happened, by its sequence.
        let mut seq_hunts: BTreeMap<i64, Vec<&HuntResult>> = BTreeMap::new();
        for r in results.iter().filter(|r| r.hits() > 0) {
            for &s in &r.seqs {
                seq_hunts.entry(s).or_default().push(r);
            }
        }
        let hit_seqs = seq_hunts.len();
        let seq_hunts: BTreeMap<i64, Vec<&HuntResult>> =
            seq_hunts.into_iter().take(MAX_MARKED).collect();
        let mut hits = Vec::new();
        let keys: Vec<i64> = seq_hunts.keys().copied().collect();
        let places: BTreeMap<i64, (String, Option<i64>, i64)> = story::places(ctx, &keys)
            .await?
            .into_iter()
            .map(|(seq, p)| {
                let host = p.host.unwrap_or_else(|| "(unknown)".to_string());
                (seq, (host, p.pid, p.t_us))
            })
            .collect();
        let mut forests: BTreeMap<String, Option<Forest>> = BTreeMap::new();
        let mut trees: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (seq, hunts) in &seq_hunts {
            let Some((host, pid, t)) = places.get(seq) else {
                continue;
            };
            for r in hunts {
                hits.push((host.clone(), *t, r.hunt.name.clone(), r.hunt.severity, *seq));
            }
            let Some(pid) = pid else { continue };
            let full = |r: &&HuntResult| {
                trees
                    .get(&r.hunt.name)
                    .is_some_and(|l| l.len() >= MAX_TREES)
            };
            if hunts.iter().all(full) {
                continue;
            }
            if !forests.contains_key(host) {
                let forest = Forest::load(ctx, host).await.ok();
                forests.insert(host.clone(), forest);
            }
            let Some(forest) = forests.get(host).and_then(Option::as_ref) else {
                continue;
            };
            let at = chrono::DateTime::from_timestamp_micros(*t);
            let Ok((target, _)) = forest.pick(*pid, at) else {
                continue;
            };
            let text = format!("{host}\n{}", forest.render(target));
            for r in hunts {
                let list = trees.entry(r.hunt.name.clone()).or_default();
                if list.len() < MAX_TREES && !list.contains(&text) {
                    list.push(text.clone());
                }
            }
        }
        let stories = story::build(ctx, &results).await?;
        Ok(Report {
            stories,
            title: "jsreplay hunt report".into(),
            dataset: dataset.to_string(),
            generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            results,
            activity,
            bucket_us,
            hits,
            trees,
            hit_seqs,
        })
    }

    /// Writes the report; the format follows the extension (`.html`/`.htm` or `.md`).
    pub fn write(&self, path: &Path) -> Result<()> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let text = match ext.as_str() {
            "html" | "htm" => self.html()?,
            "md" | "markdown" => self.markdown()?,
            _ => {
                return Err(Error::Usage(format!(
                    "--report {}: use a .html or .md file name",
                    path.display()
                )))
            }
        };
        let tmp = path.with_extension(format!("{ext}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    fn ordered(&self) -> Vec<&HuntResult> {
        crate::hunt::run::by_importance(&self.results)
    }

    /// A hunt's rows as (header, cells), at most [`MAX_ROWS`].
    fn table(r: &HuntResult) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let mut header = Vec::new();
        let mut cells = Vec::new();
        let options = FormatOptions::default().with_null("");
        for b in &r.batches {
            if header.is_empty() {
                header = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
            }
            let formatters = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            for i in 0..b.num_rows() {
                if cells.len() >= MAX_ROWS {
                    return Ok((header, cells));
                }
                cells.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
            }
        }
        Ok((header, cells))
    }

    /// The Markdown report.
    pub fn markdown(&self) -> Result<String> {
        let mut md = format!(
            "# {}\n\nDataset `{}`, generated {}.\n\n| hunt | severity | ATT&CK | hits | hosts | first | last |\n|---|---|---|---|---|---|---|\n",
            self.title, self.dataset, self.generated
        );
        for r in self.ordered() {
            let hits = r.hits_label();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {hits} | {} | {} | {} |",
                r.hunt.name,
                r.hunt.severity.as_str(),
                r.hunt.attack.join(", "),
                escape::markdown(&r.hosts.join(", ")),
                r.first.as_deref().unwrap_or("-"),
                r.last.as_deref().unwrap_or("-")
            );
        }
        md.push_str("\n## Attack stories\n\n");
        // An indented code block: the text is terminal-escaped, one step per line.
        for line in self.stories.text().lines() {
            let _ = writeln!(md, "    {line}");
        }
        for r in self
            .ordered()
            .into_iter()
            .filter(|r| r.rows > 0 || r.error.is_some())
        {
            let _ = write!(
                md,
                "\n## {}: {}\n\n{}\n\nSeverity {}, ATT&CK {}.\n\n",
                r.hunt.name,
                r.hunt.title,
                r.hunt.description,
                r.hunt.severity.as_str(),
                r.hunt.attack.join(", ")
            );
            if let Some(e) = &r.error {
                let _ = writeln!(md, "**Error:** {}", escape::markdown(e));
                continue;
            }
            let (header, cells) = Self::table(r)?;
            let esc = |s: &str| escape::markdown(s);
            let header: Vec<String> = header.iter().map(|h| esc(h)).collect();
            let _ = writeln!(md, "| {} |", header.join(" | "));
            let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
            for row in &cells {
                let row: Vec<String> = row.iter().map(|c| esc(c)).collect();
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            if r.rows > cells.len() {
                let _ = writeln!(
                    md,
                    "\n({} more rows: use `--format json`)",
                    r.rows - cells.len()
                );
            }
            for t in self.trees.get(&r.hunt.name).into_iter().flatten() {
                // An indented code block: no fence an event field could close, and the tree's
                // lines are terminal-escaped already (one line per process).
                md.push('\n');
                for line in t.lines() {
                    let _ = writeln!(md, "    {line}");
                }
            }
        }
        Ok(md)
    }

    /// The HTML report.
    pub fn html(&self) -> Result<String> {
        let data = serde_json::json!({
            "bucket_ms": self.bucket_us / 1000,
            "hosts": self.activity.iter().map(|(h, v)| serde_json::json!({
                "host": h,
                "points": v.iter().map(|(t, n)| [t / 1000, *n]).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "hits": self.hits.iter().map(|(h, t, hunt, sev, seq)| serde_json::json!({
                "host": h, "t": t / 1000, "hunt": hunt, "severity": sev.as_str(), "seq": seq,
            })).collect::<Vec<_>>(),
        });
        // Event text must neither end the script element nor open an HTML comment in it.
        let data = escape::json_for_html(&data.to_string());
        let mut body = String::new();
        let _ = write!(
            body,
            "<h1>{}</h1><p class=\"meta\">Dataset <code>{}</code>, generated {}. {} hits from {} hunts.</p>",
            esc(&self.title),
            esc(&self.dataset),
            esc(&self.generated),
            self.results.iter().map(HuntResult::hits).sum::<usize>(),
            self.results.len()
        );
        if self.hit_seqs > MAX_MARKED {
            let _ = write!(
                body,
                "<p class=\"meta\">The chart marks the first {MAX_MARKED} of {} hit events (by \
                 sequence); the JSON output (<code>--format json</code>) has them all.</p>",
                self.hit_seqs
            );
        }
        body += &self.stories_html();
        body +=
            "<h2>Activity per host</h2><p class=\"meta\">Events per time bucket on each host's \
                 own clock (events without a readable time are left out); hits marked by severity. \
                 Hover a mark for the hunt and sequence.</p>\
                 <div id=\"chart\"></div>";
        body += "<h2>Hunts</h2><table class=\"summary\"><thead><tr><th>hunt</th><th>severity</th>\
                 <th>ATT&amp;CK</th><th>hits</th><th>hosts</th><th>first</th><th>last</th></tr></thead><tbody>";
        for r in self.ordered() {
            let hits = r.hits_label();
            let name = if r.rows > 0 || r.error.is_some() {
                format!(
                    "<a href=\"#{}\">{}</a>",
                    anchor(&r.hunt.name),
                    esc(&r.hunt.name)
                )
            } else {
                esc(&r.hunt.name)
            };
            let _ = write!(
                body,
                "<tr class=\"sev-{}\"><td>{name}</td><td>{}</td><td>{}</td><td class=\"num\">{hits}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.hunt.severity.as_str(),
                r.hunt.severity.as_str(),
                esc(&r.hunt.attack.join(", ")),
                esc(&r.hosts.join(", ")),
                esc(r.first.as_deref().unwrap_or("-")),
                esc(r.last.as_deref().unwrap_or("-")),
            );
        }
        body += "</tbody></table>";
        for r in self
            .ordered()
            .into_iter()
            .filter(|r| r.rows > 0 || r.error.is_some())
        {
            let _ = write!(
                body,
                "<section id=\"{}\"><h3>{}: {}</h3><p>{}</p><p class=\"meta\">Severity {}, ATT&amp;CK {}, tags {}.</p>",
                anchor(&r.hunt.name),
                esc(&r.hunt.name),
                esc(&r.hunt.title),
                esc(&r.hunt.description),
                r.hunt.severity.as_str(),
                esc(&r.hunt.attack.join(", ")),
                esc(&r.hunt.tags.join(", "))
            );
            if let Some(e) = &r.error {
                let _ = write!(body, "<p class=\"error\">{}</p></section>", esc(e));
                continue;
            }
            let (header, cells) = Self::table(r)?;
            body += "<div class=\"scroll\"><table><thead><tr>";
            for h in &header {
                let _ = write!(body, "<th>{}</th>", esc(h));
            }
            body += "</tr></thead><tbody>";
            for row in &cells {
                body += "<tr>";
                for c in row {
                    let _ = write!(body, "<td>{}</td>", esc(c));
                }
                body += "</tr>";
            }
            body += "</tbody></table></div>";
            if r.rows > cells.len() {
                let _ = write!(
                    body,
                    "<p class=\"meta\">{} more rows: <code>jsreplay hunt --select {} --format json</code></p>",
                    r.rows - cells.len(),
                    esc(&r.hunt.name)
                );
            }
            for t in self.trees.get(&r.hunt.name).into_iter().flatten() {
                let _ = write!(body, "<pre class=\"tree\">{}</pre>", esc(t));
            }
            body += "</section>";
        }
        Ok(format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>{body}\
             <script id=\"data\" type=\"application/json\">{data}</script>\
             <script>{SCRIPT}</script></body></html>\n",
            esc(&self.title)
        ))
    }
}

/// HTML text: control characters shown as escapes (as in a terminal; line breaks kept for the
/// trees' `<pre>`), then markup characters as entities.
impl Report {
    /// The stories: per story a graph of hosts and hops (inline SVG, drawn here: no script, no
    /// network) and its steps on the corrected clock; then the hits apart.
    fn stories_html(&self) -> String {
        let mut h = String::from("<h2>Attack stories</h2>");
        if self.stories.stories.is_empty() {
            h += "<p class=\"meta\">No story: no hits join each other.</p>";
        }
        for (n, s) in self.stories.stories.iter().enumerate() {
            let offsets: Vec<String> = s
                .clock_offsets
                .iter()
                .filter(|(host, _)| Some(*host) != s.hosts.first())
                .map(|(host, o)| format!("{} {o:+.3} s", esc(host)))
                .collect();
            let _ = write!(
                h,
                "<h3>Story {}: {}</h3><p class=\"meta\">{} .. {} on {}'s clock{}.</p>{}",
                n + 1,
                esc(&s.chain),
                esc(&s.first),
                esc(&s.last),
                esc(s.hosts.first().map_or("", String::as_str)),
                if offsets.is_empty() {
                    String::new()
                } else {
                    format!("; clock offsets from the hops: {}", offsets.join(", "))
                },
                story_svg(s)
            );
            h += &steps_table(&s.steps);
        }
        if !self.stories.apart.is_empty() {
            let _ = write!(
                h,
                "<h3>Hits that join no story ({})</h3>",
                self.stories.apart.len()
            );
            h += &steps_table(&self.stories.apart);
        }
        h
    }
}

fn steps_table(steps: &[story::Step]) -> String {
    let mut h = String::from(
        "<table class=\"steps\"><thead><tr><th>time</th><th>host</th><th>tactic</th>\
         <th>step</th><th>ATT&amp;CK</th><th>seq</th></tr></thead><tbody>",
    );
    for st in steps {
        let place = match &st.to {
            Some(to) => format!("{} → {}", esc(&st.host), esc(to)),
            None => esc(&st.host),
        };
        let seqs: Vec<String> = st.seqs.iter().take(20).map(i64::to_string).collect();
        let _ = write!(
            h,
            "<tr class=\"sev-{}\"><td>{}</td><td>{place}</td><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}{}</td></tr>",
            esc(&st.severity),
            esc(&st.time),
            esc(&st.tactic),
            anchor(&st.hunt),
            esc(&st.title),
            esc(&st.attack.join(", ")),
            seqs.join(", "),
            if st.seqs.len() > 20 { " …" } else { "" }
        );
    }
    h + "</tbody></table>"
}

/// A story's hosts left to right in the order it reaches them, its hops as arrows.
fn story_svg(s: &Story) -> String {
    const W: usize = 150;
    const GAP: usize = 110;
    const Y: usize = 50;
    let x = |i: usize| 10 + i * (W + GAP);
    let width = x(s.hosts.len()) + 10;
    let mut svg = format!(
        "<svg class=\"story-graph\" width=\"{width}\" height=\"150\" viewBox=\"0 0 {width} 150\" role=\"img\" \
         data-hosts=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path d=\"M0 0L10 5L0 10z\" fill=\"#b00020\"/></marker></defs>",
        s.hosts.len()
    );
    let pos = |host: &str| s.hosts.iter().position(|h| h == host).unwrap_or(0);
    // One arrow per (from, to), labelled with the first hop's time and how many there were.
    let mut pairs: BTreeMap<(usize, usize), (String, usize)> = BTreeMap::new();
    for st in s.steps.iter().filter(|st| st.kind == "hop") {
        let key = (pos(&st.host), pos(st.to.as_deref().unwrap_or("")));
        let e = pairs
            .entry(key)
            .or_insert_with(|| (st.time.get(11..19).unwrap_or("").to_string(), 0));
        e.1 += 1;
    }
    for ((a, b), (time, count)) in &pairs {
        let (x1, x2) = if a < b {
            (x(*a) + W, x(*b))
        } else {
            (x(*a), x(*b) + W)
        };
        let label = if *count > 1 {
            format!("{time} ({count} hops)")
        } else {
            time.clone()
        };
        let _ = write!(
            svg,
            "<path class=\"hop\" d=\"M{x1} {y} C{c1} {cy} {c2} {cy} {x2} {y}\" fill=\"none\" stroke=\"#b00020\" \
             stroke-width=\"2\" marker-end=\"url(#arrow)\"/><text x=\"{mid}\" y=\"{ty}\" text-anchor=\"middle\" \
             font-size=\"11\" fill=\"#b00020\">{}</text>",
            esc(&label),
            y = Y + 22,
            c1 = (x1 + x2) / 2,
            c2 = (x1 + x2) / 2,
            cy = if a < b { Y + 22 } else { Y + 80 },
            mid = (x1 + x2) / 2,
            ty = if a < b { Y + 14 } else { Y + 76 },
        );
    }
    for (i, host) in s.hosts.iter().enumerate() {
        let steps = s
            .steps
            .iter()
            .filter(|st| st.kind == "hit" && &st.host == host)
            .count();
        let _ = write!(
            svg,
            "<g class=\"host\"><rect x=\"{}\" y=\"{Y}\" width=\"{W}\" height=\"44\" rx=\"6\" fill=\"#fff3e0\" \
             stroke=\"#e65100\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\" \
             font-weight=\"bold\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" \
             fill=\"#555\">{steps} step{}</text></g>",
            x(i),
            x(i) + W / 2,
            Y + 18,
            esc(host),
            x(i) + W / 2,
            Y + 35,
            if steps == 1 { "" } else { "s" }
        );
    }
    svg + "</svg>"
}

fn esc(s: &str) -> String {
    escape::terminal_block(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}\
h1{margin-bottom:.2em}.meta{color:#666}code,pre{font-family:ui-monospace,monospace}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.num{text-align:right}.scroll{overflow-x:auto;max-height:420px;overflow-y:auto}\
tr.sev-critical td:first-child{border-left:4px solid #b00020}tr.sev-high td:first-child{border-left:4px solid #e65100}\
tr.sev-medium td:first-child{border-left:4px solid #f9a825}tr.sev-low td:first-child{border-left:4px solid #1565c0}\
pre.tree{background:#fafafa;border:1px solid #eee;padding:.6em;overflow-x:auto}.error{color:#b00020}\
#chart svg{background:#fff;border:1px solid #eee}#chart .lane-label{font-size:12px;fill:#333}\
#chart .axis{font-size:11px;fill:#666}";

/// Draws the activity chart (one lane per host, events per bucket as a line, hits as marks)
/// into `#chart` as SVG; marks the document when done so a test can tell it was drawn.
const SCRIPT: &str = r#"
(function () {
  var data = JSON.parse(document.getElementById('data').textContent);
  var chart = document.getElementById('chart');
  var NS = 'http://www.w3.org/2000/svg';
  var colors = {critical: '#b00020', high: '#e65100', medium: '#f9a825', low: '#1565c0'};
  var lane = 70, left = 90, right = 20, top = 10, width = Math.max(chart.clientWidth || 1000, 600);
  var hosts = data.hosts.map(function (h) { return h.host; });
  var height = top + lane * hosts.length + 30;
  var t0 = Infinity, t1 = -Infinity;
  data.hosts.forEach(function (h) { h.points.forEach(function (p) { t0 = Math.min(t0, p[0]); t1 = Math.max(t1, p[0] + data.bucket_ms); }); });
  data.hits.forEach(function (h) { t0 = Math.min(t0, h.t); t1 = Math.max(t1, h.t); });
  if (!isFinite(t0)) { chart.textContent = 'No events.'; document.body.dataset.chart = 'empty'; return; }
  if (t1 <= t0) { t1 = t0 + 1; }
  var x = function (t) { return left + (t - t0) / (t1 - t0) * (width - left - right); };
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    parent.appendChild(e);
    return e;
  }
  var svg = el('svg', {width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img'}, chart);
  data.hosts.forEach(function (h, i) {
    var base = top + lane * (i + 1) - 8, max = 1;
    h.points.forEach(function (p) { max = Math.max(max, p[1]); });
    el('text', {x: 4, y: base - lane / 2 + 12, 'class': 'lane-label'}, svg).textContent = h.host;
    el('line', {x1: left, x2: width - right, y1: base, y2: base, stroke: '#ddd'}, svg);
    var d = h.points.map(function (p, j) {
      return (j ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + (base - p[1] / max * (lane - 20)).toFixed(1);
    }).join(' ');
    el('path', {d: d, fill: 'none', stroke: '#90a4ae', 'stroke-width': 1, 'class': 'activity'}, svg);
  });
  data.hits.forEach(function (h) {
    var i = hosts.indexOf(h.host);
    if (i < 0) { return; }
    var c = el('circle', {cx: x(h.t).toFixed(1), cy: top + lane * (i + 1) - 8, r: 5,
      fill: colors[h.severity] || '#555', 'fill-opacity': 0.8, 'class': 'hit'}, svg);
    el('title', {}, c).textContent = h.hunt + ' — seq ' + h.seq + ' — ' + new Date(h.t).toISOString();
  });
  [t0, (t0 + t1) / 2, t1].forEach(function (t, k) {
    el('text', {x: x(t), y: height - 8, 'class': 'axis', 'text-anchor': ['start', 'middle', 'end'][k]}, svg)
      .textContent = new Date(t).toISOString().replace('.000Z', 'Z');
  });
  document.body.dataset.chart = 'drawn';
  document.body.dataset.hits = String(svg.querySelectorAll('circle.hit').length);
})();
"#;
