//! Loading data: `publish` (NDJSON into a stream) and `generate` (the sample incidents).

use super::*;

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Stream the subjects belong to (created with --create).
    #[arg(long, default_value = "SYSDIG_EVENTS")]
    pub stream: String,
    /// Create the stream with the SysArmor guide's settings if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Subjects of the created stream.
    #[arg(long = "stream-subject", default_value = "events.sysdig.*")]
    pub stream_subjects: Vec<String>,
    /// Replicas of the created stream (the guide uses 3 on a cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// NDJSON files to publish (`-` for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Which night: the first incident, or the second fleet's incident amid a night of
    /// administration (sample-data/fleet-night.ndjson.zst).
    #[arg(long, value_enum, default_value = "incident")]
    pub scenario: crate::jobs::sample::Scenario,
    /// Background events around the incident.
    #[arg(long, default_value_t = 60_000)]
    pub noise: u64,
    /// Random seed (the committed sample uses the default).
    #[arg(long, default_value_t = 20250710)]
    pub seed: u64,
    /// Output file (stdout if absent).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

pub(super) async fn cmd_publish(a: PublishArgs) -> Result<u8> {
    let client = a.conn.spec()?.connect().await?;
    let js = async_nats::jetstream::new(client.clone());
    if a.create {
        publish::ensure_stream(
            &js,
            &publish::StreamSpec {
                name: a.stream.clone(),
                subjects: a.stream_subjects.clone(),
                replicas: a.replicas,
            },
        )
        .await?;
    } else {
        api::stream_state(&client, &a.stream, api::Deleted::Omit).await?;
    }
    let summary = publish::publish_files(&js, &a.files).await?;
    eprintln!(
        "published {} messages ({:.1} MiB) to {} in {:.1} s ({:.0} msg/s), seq {}..={}",
        summary.published,
        summary.bytes as f64 / (1024.0 * 1024.0),
        a.stream,
        summary.seconds,
        summary.published as f64 / summary.seconds.max(1e-9),
        summary.first_seq.unwrap_or(0),
        summary.last_seq.unwrap_or(0)
    );
    if a.json {
        print_json(&summary)?;
    }
    client.flush().await.ok();
    Ok(exit::OK)
}

pub(super) fn cmd_generate(a: GenerateArgs) -> Result<u8> {
    let cfg = sample::Config {
        noise: a.noise,
        seed: a.seed,
        scenario: a.scenario,
    };
    match &a.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let io = |e| Error::io(path, e);
            let n = if path.extension().is_some_and(|e| e == "zst") {
                let mut z = zstd::Encoder::new(file, 19).map_err(io)?;
                let n = sample::write_ndjson(&cfg, &mut z).map_err(io)?;
                z.finish().map_err(io)?.sync_all().map_err(io)?;
                n
            } else {
                let mut w = std::io::BufWriter::new(file);
                let n = sample::write_ndjson(&cfg, &mut w).map_err(io)?;
                w.flush().map_err(io)?;
                n
            };
            eprintln!("wrote {n} publish lines to {}", path.display());
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            sample::write_ndjson(&cfg, &mut out).map_err(|e| Error::io("stdout", e))?;
            out.flush().map_err(|e| Error::io("stdout", e))?;
        }
    }
    Ok(exit::OK)
}
