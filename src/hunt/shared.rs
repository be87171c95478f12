//! One pass over `events` for the whole pack. Each hunt is planned and optimised first; every
//! scan of `events` in those plans carries the filters the optimiser pushed into it (a hunt that
//! filters `events` never looks at a row outside them). Scans with the same filters make one
//! *shared set*; one scan of the dataset evaluates every set's predicate on each row, reading the
//! union of the columns the sets need, and routes each row to the sets whose predicate it meets
//! (the predicates are evaluated as [`crate::hunt::memo`] says: a conjunct once per batch, and
//! one over a text column once per distinct value).
//! Each hunt then runs its own optimised plan with its scans of `events` replaced by scans of
//! its sets: the same rows, in the same order (hunts end in `ORDER BY`), because a set holds
//! exactly the rows its scan would have read and the plan above it still applies every filter.
//!
//! A scan without filters (a hunt that reads every event), or with a row limit, is not shared
//! and reads the dataset as before. The sets live in the session's memory pool, under half of
//! it: when they outgrow that, the largest set is dropped and its scans read the dataset as
//! before (a set that large is most of the dataset, and sharing it would save little), so the
//! pass costs bounded memory and never more scans than the hunts alone. A set that holds more
//! than half of the rows scanned (after the first [`BROAD_AFTER`]) is dropped the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::Column;
use datafusion::datasource::{provider_as_source, source_as_provider, MemTable, ViewTable};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan, TableScanBuilder};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use crate::error::Result;
use crate::hunt::memo::Flags;
use crate::sql::{engine, query};

/// Rows gathered per set before they are stored as one batch.
const BATCH_ROWS: usize = 8192;
/// Rows scanned before a set that holds more than half of them is dropped: a filter that broad
/// (`proc_name IS NOT NULL`) saves its hunts almost nothing and costs a copy of the dataset.
const BROAD_AFTER: usize = 100_000;

/// What the shared pass did, for `--format json` and the bench.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassStats {
    /// Hunts whose scans of `events` all read shared sets.
    pub hunts_shared: usize,
    /// Hunts that still read the dataset themselves (a scan without filters, or a plan that
    /// could not be shared).
    pub hunts_alone: usize,
    pub sets: usize,
    /// Rows held by the sets (a row in two sets counts twice).
    pub rows: u64,
    /// Sets dropped for outgrowing the memory they may hold or for holding most of the rows
    /// (their scans read the dataset).
    pub dropped: usize,
    pub seconds: f64,
}

/// The pack's plans after the shared pass: per hunt, the plan to run instead of its SQL.
pub struct OnePass {
    plans: Vec<Option<LogicalPlan>>,
    pub stats: PassStats,
    /// The sets' memory stays reserved as long as the plans that read them live.
    _memory: MemoryReservation,
}

impl OnePass {
    /// The shared plan of hunt `i`, if it has one.
    pub fn plan(&self, i: usize) -> Option<&LogicalPlan> {
        self.plans.get(i).and_then(Option::as_ref)
    }
}

/// One shared set: the filters of the scans it serves and the columns they read, as indices into
/// the `events` table's schema (sorted, so a set keeps the table's column order).
struct SetSpec {
    predicate: Expr,
    columns: Vec<usize>,
}

/// Plans every hunt, builds the shared sets in one scan and rewrites the plans to read them.
/// `None` when fewer than two scans could share (nothing to gain). A hunt whose SQL does not plan
/// keeps no shared plan: running it alone reports its error as before.
pub async fn prepare(ctx: &SessionContext, sqls: &[String]) -> Result<Option<OnePass>> {
    let started = std::time::Instant::now();
    let Some(events) = scanned_table(ctx).await else {
        return Ok(None);
    };
    let mut plans = Vec::with_capacity(sqls.len());
    for sql in sqls {
        plans.push(optimised(ctx, sql).await);
    }
    let mut sets: BTreeMap<String, SetSpec> = BTreeMap::new();
    let width = events.schema().fields().len();
    let mut scans = 0;
    for plan in plans.iter().flatten() {
        for scan in events_scans(plan, &events) {
            if let Some((key, predicate)) = shareable(&scan) {
                scans += 1;
                let set = sets.entry(key).or_insert_with(|| SetSpec {
                    predicate,
                    columns: Vec::new(),
                });
                let cols = scan.projection.unwrap_or_else(|| (0..width).collect());
                set.columns.extend(cols);
                set.columns.sort_unstable();
                set.columns.dedup();
            }
        }
    }
    if scans < 2 {
        return Ok(None);
    }
    let specs: Vec<SetSpec> = sets.into_values().collect();
    let (providers, memory, rows) = build_sets(ctx, &events, &specs).await?;
    let mut stats = PassStats {
        sets: specs.len(),
        rows,
        dropped: providers.iter().filter(|p| p.is_none()).count(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let rewritten = plan.and_then(|p| rewrite(p, &events, &specs, &providers));
        match &rewritten {
            Some((_, true)) => stats.hunts_shared += 1,
            _ => stats.hunts_alone += 1,
        }
        out.push(rewritten.map(|(p, _)| p));
    }
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(Some(OnePass {
        plans: out,
        stats,
        _memory: memory,
    }))
}

/// The table the scans of `events` read: `events` itself, or the one table under it when it is
/// a view (a time window, [`query::restrict_to_window`]).
async fn scanned_table(ctx: &SessionContext) -> Option<Arc<dyn TableProvider>> {
    let events = ctx.table_provider(query::TABLE).await.ok()?;
    let Some(view) = events.downcast_ref::<ViewTable>() else {
        return Some(events);
    };
    let mut under = Vec::new();
    let _ = view.logical_plan().apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            under.extend(source_as_provider(&scan.source).ok());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    match under.len() {
        1 => under.pop(),
        _ => None,
    }
}

/// The hunt's single read-only statement, planned and optimised; `None` if it is anything else.
async fn optimised(ctx: &SessionContext, sql: &str) -> Option<LogicalPlan> {
    let mut statements = query::statements(sql).ok()?;
    if statements.len() != 1 {
        return None;
    }
    let state = ctx.state();
    let plan = state.statement_to_plan(statements.pop()?).await.ok()?;
    query::read_only().verify_plan(&plan).ok()?;
    state.optimize(&plan).ok()
}

fn is_events(scan: &TableScan, events: &Arc<dyn TableProvider>) -> bool {
    source_as_provider(&scan.source)
        .is_ok_and(|p| std::ptr::addr_eq(Arc::as_ptr(&p), Arc::as_ptr(events)))
}

/// Every scan of `events` in a plan, subqueries included.
fn events_scans(plan: &LogicalPlan, events: &Arc<dyn TableProvider>) -> Vec<TableScan> {
    let mut found = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if is_events(scan, events) {
                found.push(scan.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// A scan's set key and predicate (its filters, columns unqualified), if it can read a set.
fn shareable(scan: &TableScan) -> Option<(String, Expr)> {
    if scan.fetch.is_some() || scan.filters.is_empty() {
        return None;
    }
    let predicate = conjunction(scan.filters.iter().cloned())?
        .transform(|e| {
            Ok(match e {
                Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .ok()?
        .data;
    Some((predicate.to_string(), predicate))
}

/// Replaces each shareable scan of `events` with a scan of its set (unless the set was dropped);
/// the flag says whether every scan of `events` was replaced. `None` if a replacement would
/// change a scan's schema.
fn rewrite(
    plan: LogicalPlan,
    events: &Arc<dyn TableProvider>,
    specs: &[SetSpec],
    providers: &[Option<Arc<dyn TableProvider>>],
) -> Option<(LogicalPlan, bool)> {
    let mut all = true;
    let width = events.schema().fields().len();
    let plan = plan
        .transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            if !is_events(scan, events) {
                return Ok(Transformed::no(node));
            }
            let Some((key, _)) = shareable(scan) else {
                all = false;
                return Ok(Transformed::no(node));
            };
            let i = specs
                .iter()
                .position(|s| s.predicate.to_string() == key)
                .ok_or_else(|| DataFusionError::Internal("a scan without its set".into()))?;
            let Some(provider) = &providers[i] else {
                all = false;
                return Ok(Transformed::no(node));
            };
            let wanted = scan
                .projection
                .clone()
                .unwrap_or_else(|| (0..width).collect());
            let projection = wanted
                .iter()
                .map(|c| specs[i].columns.binary_search(c).ok())
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| DataFusionError::Internal("a set without a column".into()))?;
            let replaced = TableScanBuilder::new(
                scan.table_name.clone(),
                provider_as_source(provider.clone()),
            )
            .with_projection(Some(projection))
            .build()?;
            if replaced.projected_schema != scan.projected_schema {
                return Err(DataFusionError::Internal("a set's schema differs".into()));
            }
            Ok(Transformed::yes(LogicalPlan::TableScan(replaced)))
        })
        .ok()?
        .data;
    Some((plan, all))
}

/// One set while the pass runs: rows waiting to become a batch, then stored batches.
struct Building {
    schema: SchemaRef,
    /// Positions of the set's columns in the pass's output.
    positions: Vec<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    stored: Vec<RecordBatch>,
    stored_bytes: usize,
    /// Rows gathered so far.
    rows: usize,
    /// Outgrew the memory, or holds most of the dataset: no longer gathered.
    dropped: bool,
}

/// The pass: one scan of `events` filtered by any set's predicate, projecting the union of the
/// sets' columns and each predicate as a flag; rows routed by flag. Returns each set's provider
/// (`None` for a dropped set), the memory they hold and their rows.
async fn build_sets(
    ctx: &SessionContext,
    events: &Arc<dyn TableProvider>,
    specs: &[SetSpec],
) -> Result<(Vec<Option<Arc<dyn TableProvider>>>, MemoryReservation, u64)> {
    let table_schema = events.schema();
    let mut union: Vec<usize> = specs.iter().flat_map(|s| s.columns.clone()).collect();
    union.sort_unstable();
    union.dedup();
    let select: Vec<Expr> = union
        .iter()
        .map(|&c| Expr::Column(Column::new_unqualified(table_schema.field(c).name())))
        .collect();
    let streams = ctx
        .table(query::TABLE)
        .await
        .and_then(|t| t.select(select))
        .map_err(engine::query_error)?
        .execute_stream_partitioned()
        .await
        .map_err(engine::query_error)?;
    let predicates: Vec<Expr> = specs.iter().map(|s| s.predicate.clone()).collect();
    let pool = &ctx.runtime_env().memory_pool;
    // Each partition of the scan gathers on its own task (the pass evaluates and copies on
    // every core, as the hunts alone would), within its share of the budget.
    let budget = engine::memory_limit() / 2 / streams.len().max(1);
    let mut tasks = Vec::with_capacity(streams.len());
    for stream in streams {
        let flags = Flags::new(ctx, &stream.schema(), &predicates).map_err(engine::query_error)?;
        let sets: Vec<Building> = specs
            .iter()
            .map(|s| Building::new(&table_schema, &union, &s.columns))
            .collect();
        let reservation = MemoryConsumer::new("hunt pack: shared event sets").register(pool);
        tasks.push(tokio::spawn(gather(
            stream,
            flags,
            sets,
            reservation,
            budget,
        )));
    }
    let reservation = MemoryConsumer::new("hunt pack: shared event sets").register(pool);
    let mut sets: Vec<Building> = specs
        .iter()
        .map(|s| Building::new(&table_schema, &union, &s.columns))
        .collect();
    for task in tasks {
        let (part, held) = task
            .await
            .map_err(|e| crate::error::Error::Query(format!("the hunts' shared pass: {e}")))??;
        for (set, mut p) in sets.iter_mut().zip(part) {
            if set.dropped || p.dropped {
                set.drop_rows();
                continue;
            }
            set.rows += p.rows;
            set.stored_bytes += p.stored_bytes;
            set.stored.append(&mut p.stored);
        }
        reservation.grow(held.size());
        held.free();
    }
    let partitions = ctx.state().config().target_partitions().max(1);
    let mut providers: Vec<Option<Arc<dyn TableProvider>>> = Vec::with_capacity(sets.len());
    let mut rows = 0;
    for set in sets {
        if set.dropped {
            providers.push(None);
            continue;
        }
        let mut parts = vec![Vec::new(); partitions];
        for (k, b) in set.stored.into_iter().enumerate() {
            rows += b.num_rows() as u64;
            parts[k % partitions].push(b);
        }
        let table = MemTable::try_new(set.schema, parts).map_err(engine::query_error)?;
        providers.push(Some(Arc::new(table)));
    }
    Ok((providers, reservation, rows))
}

fn df_arrow(e: datafusion::arrow::error::ArrowError) -> crate::error::Error {
    engine::query_error(e.into())
}

/// One partition of the pass: rows of `stream` routed to `sets` by `flags`, within `budget`.
async fn gather(
    mut stream: datafusion::execution::SendableRecordBatchStream,
    mut flags: Flags,
    mut sets: Vec<Building>,
    mut reservation: MemoryReservation,
    budget: usize,
) -> Result<(Vec<Building>, MemoryReservation)> {
    let mut scanned = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(engine::query_error)?;
        scanned += batch.num_rows();
        let masks = flags
            .rows(&batch, |i| sets[i].dropped)
            .map_err(engine::query_error)?;
        for (set, mask) in sets.iter_mut().zip(masks) {
            let Some(mask) = mask else {
                continue;
            };
            let part = batch.project(&set.positions).map_err(df_arrow)?;
            let part = filter_record_batch(&part, &mask).map_err(df_arrow)?;
            set.pending_rows += part.num_rows();
            set.rows += part.num_rows();
            set.pending.push(part);
            if set.pending_rows >= BATCH_ROWS {
                set.seal()?;
            }
        }
        if scanned >= BROAD_AFTER {
            for set in sets.iter_mut().filter(|s| s.rows * 2 > scanned) {
                set.drop_rows();
            }
        }
        hold(&mut sets, &mut reservation, budget);
    }
    for set in &mut sets {
        set.seal()?;
    }
    hold(&mut sets, &mut reservation, budget);
    Ok((sets, reservation))
}

impl Building {
    /// A set of the table's `columns` (sorted), gathered from batches of the `union` columns.
    fn new(table: &SchemaRef, union: &[usize], columns: &[usize]) -> Self {
        Building {
            schema: Arc::new(table.project(columns).expect("columns of the table")),
            positions: columns
                .iter()
                .map(|c| union.binary_search(c).expect("in the union"))
                .collect(),
            pending: Vec::new(),
            pending_rows: 0,
            stored: Vec::new(),
            stored_bytes: 0,
            rows: 0,
            dropped: false,
        }
    }

    /// Stops gathering the set: its scans will read the dataset.
    fn drop_rows(&mut self) {
        self.dropped = true;
        self.stored = Vec::new();
        self.pending = Vec::new();
        self.stored_bytes = 0;
    }

    /// The pending rows as one stored batch.
    fn seal(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(&self.schema, &self.pending).map_err(df_arrow)?;
        self.pending.clear();
        self.pending_rows = 0;
        self.stored_bytes += batch.get_array_memory_size();
        self.stored.push(batch);
        Ok(())
    }
}

/// Keeps the sets' memory within the pool and under `budget`: the largest sets are dropped until
/// the rest fit.
fn hold(sets: &mut [Building], reservation: &mut MemoryReservation, budget: usize) {
    loop {
        let held: usize = sets.iter().map(|s| s.stored_bytes).sum();
        if held <= budget && reservation.try_resize(held).is_ok() {
            return;
        }
        let Some(largest) = sets
            .iter_mut()
            .filter(|s| !s.dropped)
            .max_by_key(|s| s.stored_bytes)
        else {
            return;
        };
        largest.drop_rows();
    }
}
