//! One chunk of an archive run: its parts uploaded as they close (listed in `pending.json`
//! first on a Hive archive, gathered as `add` actions on a Delta table), its account checked
//! (rows and gaps must add up to its range before anything of it becomes the archive's), and
//! its commit: the chunk manifest and the checkpoint replaced only if unchanged, or one Delta
//! commit with the stream's `txn`, read back before anything is withdrawn after an error.

use super::*;

/// One chunk, read and staged locally, ready to commit.
pub(super) struct Chunk<'a> {
    pub(super) range: (u64, u64),
    /// `None` when the stream held nothing of it.
    pub(super) read: Option<Accounted>,
    pub(super) plan: &'a plan::Plan,
    pub(super) req: &'a ArchiveRequest,
}

pub(super) struct Committed {
    pub(super) checkpoint: Checkpoint,
    pub(super) rows: u64,
    pub(super) invalid: u64,
    pub(super) files: Vec<PartFile>,
    pub(super) gaps: Vec<(u64, u64)>,
    /// What the summary should say about how the commit went, when not plainly.
    pub(super) note: Option<String>,
}

/// A chunk's uploads: each part goes up as it closes, once `pending.json` lists it (a Hive
/// archive) or with its `add` action ready for the chunk's commit (a Delta table).
pub(super) struct Uploads<'a> {
    pub(super) keeper: Keeper<'a>,
    pub(super) pending: Pending,
    /// The parts uploaded so far, as the Delta commit adds them.
    pub(super) adds: Vec<deltalake::kernel::Add>,
}

impl<'a> Uploads<'a> {
    pub(super) fn new(keeper: Keeper<'a>, (a, b): (u64, u64), run: &str) -> Self {
        Self {
            keeper,
            pending: Pending {
                range: [a, b],
                objects: Vec::new(),
                written_at: now(),
                run: Some(run.to_string()),
            },
            adds: Vec::new(),
        }
    }

    /// Lists `object` in `pending.json` before it is written: a run killed at any point leaves
    /// a note naming everything of its chunk that may be in the destination. (A Delta table
    /// needs none: what its log does not list is never read, and `vacuum` removes it.)
    pub(super) async fn announce(&mut self, object: &str) -> Result<()> {
        self.pending.objects.push(object.to_string());
        if self.keeper.format == TableFormat::Delta {
            return Ok(());
        }
        // A run that stalled past its lease writes nothing more (another may hold it).
        self.keeper.check_lease()?;
        let body = serde_json::to_vec_pretty(&self.pending).expect("pending serializes");
        self.keeper
            .dest
            .write(PENDING, body, WriteMode::Overwrite)
            .await?;
        Ok(())
    }

    /// Uploads parts as the sinks close them, until every sink has finished or one upload fails
    /// (the sinks then stop at their next part).
    pub(super) async fn take(
        &mut self,
        mut parts: tokio::sync::mpsc::Receiver<ClosedPart>,
    ) -> Result<()> {
        while let Some(part) = parts.recv().await {
            let local = part.local.clone();
            let result = self.upload(part).await;
            let _ = std::fs::remove_file(&local);
            result?;
        }
        Ok(())
    }

    pub(super) async fn upload(&mut self, part: ClosedPart) -> Result<()> {
        let ClosedPart { local, file } = part;
        self.announce(&file.path).await?;
        // What goes up is what was written: the staged file is checked against the hash taken
        // while writing it (off the async threads: the read goes on meanwhile); a Delta table
        // also gets the file's statistics from its footer.
        let path = local.clone();
        let delta = self.keeper.format == TableFormat::Delta;
        let (hash, footer) = tokio::task::spawn_blocking(move || {
            let footer = if delta {
                Some(delta::footer(&path)?)
            } else {
                None
            };
            Ok::<_, Error>((sha256_file(&path)?, footer))
        })
        .await
        .map_err(|e| Error::Replay(format!("hashing a staged part failed: {e}")))??;
        if hash != file.sha256 {
            let [a, b] = self.pending.range;
            return Err(Error::Input(format!(
                "{}: the staged part changed after it was written; nothing of chunk seq \
                 {a}..={b} is committed",
                local.display()
            )));
        }
        self.keeper.check_lease()?;
        self.keeper.dest.upload(&local, &file.path).await?;
        if let Some(footer) = footer {
            self.adds.push(delta::add_action(&file, &footer, true));
        }
        Ok(())
    }

    /// Removes what this run uploaded of a chunk that is certain not to be committed.
    pub(super) async fn withdraw(&self) {
        for obj in &self.pending.objects {
            let _ = self.keeper.dest.delete(obj).await;
        }
    }
}

impl Chunk<'_> {
    pub(super) async fn commit(
        self,
        cp: &Checkpoint,
        kept: &mut Kept,
        mut uploads: Uploads<'_>,
    ) -> Result<Committed> {
        let keeper = uploads.keeper;
        let dest = keeper.dest;
        let (a, b) = self.range;
        let warnings = self.plan.warnings.clone();
        let (files, gaps, rows, counts) = match self.read {
            None => (Vec::new(), vec![(a, b)], 0, Default::default()),
            Some(read) => {
                // Removes the (empty) staging folders: every part was handed off and uploaded.
                for sink in read.sinks {
                    sink.commit()?;
                }
                (read.out.files, read.gaps, read.out.rows, read.out.counts)
            }
        };
        let gap_messages: u64 = gaps.iter().map(|(x, y)| y - x + 1).sum();
        // The chunk's own account must add up before anything of it becomes the archive's.
        if rows + gap_messages != b - a + 1 {
            return Err(Error::Replay(format!(
                "chunk seq {a}..={b}: {rows} rows + {gap_messages} gap messages do not account for \
                 its {} sequences; nothing of it is committed",
                b - a + 1
            )));
        }
        let manifest = Manifest {
            format: "jsreplay-archive-chunk/1",
            tool: Tool::default(),
            stream: self.req.stream.clone(),
            server: self.req.server_display.clone(),
            server_version: self.plan.server_version.clone(),
            read: read_description(self.plan),
            range: Some(SeqRange { first: a, last: b }),
            first_seq: files.iter().map(|f| f.first_seq).min(),
            last_seq: files.iter().map(|f| f.last_seq).max(),
            rows,
            invalid: counts.invalid,
            parse: counts,
            gaps: gaps.iter().map(|&(x, y)| [x, y]).collect(),
            gap_messages,
            filtered_out: 0,
            partitioning: "dt=YYYY-MM-DD/hour=HH of the event time (the JetStream time when the payload has none), UTC",
            files: files.clone(),
            schema: schema_columns(),
            warnings,
            started_at: uploads.pending.written_at.clone(),
            finished_at: now(),
        };
        let mut all_gaps: Vec<(u64, u64)> = cp.gaps.iter().map(|g| (g[0], g[1])).collect();
        all_gaps.extend(gaps.iter().copied());
        let next = Checkpoint {
            last_seq: b,
            rows: cp.rows + rows,
            gap_messages: cp.gap_messages + gap_messages,
            gaps: merge_ranges(all_gaps)
                .into_iter()
                .map(|(x, y)| [x, y])
                .collect(),
            chunks: cp.chunks + 1,
            updated_at: now(),
            ..cp.clone()
        };
        let mut note = None;
        match kept {
            Kept::Delta(table) => {
                let record = DeltaRecordOut {
                    kind: "archive-chunk",
                    checkpoint: &next,
                    chunk: Some(&manifest),
                };
                let adds = std::mem::take(&mut uploads.adds);
                let ours: Vec<String> = adds.iter().map(|a| a.path.clone()).collect();
                let commit = delta::Commit {
                    adds,
                    removes: Vec::new(),
                    txn: Some((app_id(&self.req.stream), b as i64)),
                    record: serde_json::to_value(&record).expect("record serializes"),
                    file_schema: crate::lake::batch::event_schema(),
                    rearrange: false,
                };
                if let Err(e) = table.commit(commit).await {
                    // An error is not proof that nothing landed: nothing is deleted before the
                    // table itself says whose commit holds the chunk.
                    match table.lists_all(&ours).await {
                        Ok(true) => {
                            note = Some(format!(
                                "committing chunk seq {a}..={b} answered with an error ({e}), \
                                 but the table lists its files: the commit had landed (its \
                                 answer was lost); nothing was removed"
                            ));
                        }
                        Ok(false) if matches!(e, Error::Busy(_)) => {
                            // Certain not to be committed: the other writer's commit stands.
                            uploads.withdraw().await;
                            return Err(Error::Busy(format!(
                                "chunk seq {a}..={b} of {} is not committed: {e} (another \
                                 archiver of {} got there first; its commit stands, this run's \
                                 files were removed)",
                                dest.display, self.req.stream
                            )));
                        }
                        Ok(false) => return Err(e),
                        Err(check) => {
                            return Err(Error::Store(format!(
                                "chunk seq {a}..={b} of {}: the commit failed ({e}) and the table \
                                 could not be read to see whether it landed ({check}); this \
                                 run's files were kept (`jsreplay vacuum` removes them if they \
                                 are not in the table)",
                                dest.display
                            )))
                        }
                    }
                }
            }
            Kept::Hive(version) => {
                let manifest_rel = chunk_manifest(a, b);
                uploads.announce(&manifest_rel).await?;
                let body = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
                dest.write(&manifest_rel, body, WriteMode::Overwrite)
                    .await?;
                keeper.check_lease()?;
                let body = serde_json::to_vec_pretty(&next).expect("checkpoint serializes");
                let mode = version.take().map_or(WriteMode::Create, WriteMode::Replace);
                let Written::Done(new_version) = dest.write(CHECKPOINT, body, mode).await? else {
                    return Err(Error::Busy(format!(
                        "the checkpoint of {} changed under this run (another archiver wrote it); \
                         chunk seq {a}..={b} is not committed and will be cleaned up by the next run",
                        dest.display
                    )));
                };
                *version = Some(new_version);
                dest.delete(PENDING).await?;
            }
        }
        Ok(Committed {
            checkpoint: next,
            rows,
            invalid: counts.invalid,
            files,
            gaps,
            note,
        })
    }
}
