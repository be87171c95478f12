//! The shared pass's predicates, each evaluated once per batch for every set that names it, and a
//! predicate over one text column once per *distinct value* (the column made a dictionary once
//! per batch, for all the predicates over it): event columns repeat (`proc_name`,
//! `evt_type`, the command lines of services and cron jobs), so a regular expression over
//! `proc_cmdline` runs once for each command line the archive holds, not once per event. What a
//! value gave is remembered for the rest of the pass, within a budget of bytes shared by all
//! predicates (values longer than [`MAX_KEY`] are never remembered): a publisher sending unique
//! huge command lines costs the plain evaluation, not memory. A conjunct whose lookups mostly
//! miss (a column whose values rarely repeat) goes back to plain evaluation after [`GIVE_UP`]
//! values.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::kernels::boolean::or;
use datafusion::arrow::compute::{and, cast, is_null, prep_null_mask_filter, take};
use datafusion::arrow::datatypes::{DataType, Int32Type, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

/// The longest value remembered.
pub const MAX_KEY: usize = 4096;
/// Bytes of remembered values, all predicates together.
pub const BUDGET: usize = 64 << 20;

type Known = HashMap<Box<str>, bool, foldhash::fast::RandomState>;

/// One conjunct of a set's predicate.
enum Conjunct {
    /// Evaluated on the whole batch.
    Plain(Arc<dyn PhysicalExpr>),
    /// A deterministic predicate over one `Utf8` column: evaluated on the values not seen yet.
    Memo {
        expr: Arc<dyn PhysicalExpr>,
        /// The one column, as the expression reads it.
        schema: SchemaRef,
        /// Its place in the pass's batches.
        column: usize,
        known: Known,
        null: Option<bool>,
        /// Distinct values looked up, and those not known: a column whose values rarely repeat
        /// (a socket tuple with its port) goes back to plain evaluation ([`GIVE_UP`]).
        asked: usize,
        missed: usize,
        /// The same conjunct over the whole batch, for then.
        plain: Arc<dyn PhysicalExpr>,
    },
}

/// Values looked up before a conjunct whose lookups mostly miss goes back to plain evaluation.
const GIVE_UP: usize = 65_536;

/// Every set's predicate split into conjuncts, the conjuncts shared between sets.
pub struct Flags {
    conjuncts: Vec<Conjunct>,
    /// Per set, its conjuncts (indices into `conjuncts`).
    sets: Vec<Vec<usize>>,
    budget: usize,
}

impl Flags {
    /// The conjuncts of `predicates` over batches of `schema` (unqualified columns).
    pub fn new(ctx: &SessionContext, schema: &SchemaRef, predicates: &[Expr]) -> DfResult<Self> {
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut conjuncts = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut sets = Vec::with_capacity(predicates.len());
        for p in predicates {
            let mut mine = Vec::new();
            for c in split_conjunction(p) {
                let key = c.to_string();
                if let Some(&i) = seen.get(&key) {
                    mine.push(i);
                    continue;
                }
                let conjunct = Self::conjunct(ctx, schema, &df_schema, c)?;
                seen.insert(key, conjuncts.len());
                mine.push(conjuncts.len());
                conjuncts.push(conjunct);
            }
            sets.push(mine);
        }
        Ok(Self {
            conjuncts,
            sets,
            budget: BUDGET,
        })
    }

    fn conjunct(
        ctx: &SessionContext,
        schema: &SchemaRef,
        df_schema: &DFSchema,
        c: &Expr,
    ) -> DfResult<Conjunct> {
        let columns: Vec<_> = c.column_refs().into_iter().collect();
        if let (false, [one]) = (c.is_volatile(), columns.as_slice()) {
            if let Ok(column) = schema.index_of(&one.name) {
                let field = schema.field(column);
                if field.data_type() == &DataType::Utf8 {
                    let single = Arc::new(Schema::new(vec![field.clone().with_nullable(true)]));
                    let expr = ctx.create_physical_expr(
                        c.clone(),
                        &DFSchema::try_from(single.as_ref().clone())?,
                    )?;
                    return Ok(Conjunct::Memo {
                        expr,
                        schema: single,
                        column,
                        known: Known::default(),
                        null: None,
                        asked: 0,
                        missed: 0,
                        plain: ctx.create_physical_expr(c.clone(), df_schema)?,
                    });
                }
            }
        }
        Ok(Conjunct::Plain(
            ctx.create_physical_expr(c.clone(), df_schema)?,
        ))
    }

    /// Each set's rows in `batch` (true where every conjunct of its predicate is true), or `None`
    /// for a set with no row there or one that `skip` says is no longer gathered. A conjunct
    /// is evaluated at most once per batch, and only for sets still open.
    pub fn rows(
        &mut self,
        batch: &RecordBatch,
        skip: impl Fn(usize) -> bool,
    ) -> DfResult<Vec<Option<BooleanArray>>> {
        let mut done: Vec<Option<BooleanArray>> = vec![None; self.conjuncts.len()];
        let mut dictionaries: HashMap<usize, DictionaryArray<Int32Type>> = HashMap::new();
        let mut out = Vec::with_capacity(self.sets.len());
        for s in 0..self.sets.len() {
            if skip(s) {
                out.push(None);
                continue;
            }
            let mut mask: Option<BooleanArray> = None;
            for &c in &self.sets[s] {
                if done[c].is_none() {
                    let r = evaluate(
                        &mut self.conjuncts[c],
                        batch,
                        &mut dictionaries,
                        &mut self.budget,
                    )?;
                    done[c] = Some(r);
                }
                let r = done[c].as_ref().expect("just evaluated");
                let next = match &mask {
                    None => r.clone(),
                    Some(m) => and(m, r)?,
                };
                let empty = next.true_count() == 0;
                mask = Some(next);
                if empty {
                    break;
                }
            }
            out.push(mask.filter(|m| m.true_count() > 0));
        }
        Ok(out)
    }
}

/// A conjunct's truth on every row of `batch`: true, or false (where SQL says false or NULL).
/// A one-column conjunct works on the batch's column as a dictionary (built once per batch and
/// column, for every conjunct over that column): each distinct value is looked up in what the
/// conjunct gave before, the new ones evaluated together, and the answers spread to the rows.
fn evaluate(
    c: &mut Conjunct,
    batch: &RecordBatch,
    dictionaries: &mut HashMap<usize, DictionaryArray<Int32Type>>,
    budget: &mut usize,
) -> DfResult<BooleanArray> {
    if let Conjunct::Memo {
        asked,
        missed,
        plain,
        ..
    } = c
    {
        if *asked >= GIVE_UP && *missed * 2 > *asked {
            *c = Conjunct::Plain(plain.clone());
        }
    }
    let (expr, schema, column, known, null, asked, missed) = match c {
        Conjunct::Plain(expr) => {
            return truth(&expr.evaluate(batch)?.into_array(batch.num_rows())?);
        }
        Conjunct::Memo {
            expr,
            schema,
            column,
            known,
            null,
            asked,
            missed,
            ..
        } => (expr, schema, *column, known, null, asked, missed),
    };
    let dictionary = match dictionaries.entry(column) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let as_dictionary = cast(
                batch.column(column),
                &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            )?;
            e.insert(as_dictionary.as_dictionary::<Int32Type>().clone())
        }
    };
    let values = dictionary.values().as_string::<i32>();
    let mut answers = vec![false; values.len()];
    let mut misses: Vec<usize> = Vec::new();
    for (k, answer) in answers.iter_mut().enumerate() {
        if values.is_null(k) {
            misses.push(k);
            continue;
        }
        match known.get(values.value(k)) {
            Some(&b) => *answer = b,
            None => misses.push(k),
        }
    }
    *asked += values.len();
    *missed += misses.len();
    let rows_null = dictionary.keys().null_count() > 0;
    if !misses.is_empty() || (rows_null && null.is_none()) {
        let asked: StringArray = misses
            .iter()
            .map(|&k| values.is_valid(k).then(|| values.value(k)))
            .chain(std::iter::once(None))
            .collect();
        let one = RecordBatch::try_new(schema.clone(), vec![Arc::new(asked) as ArrayRef])?;
        let got = truth(&expr.evaluate(&one)?.into_array(one.num_rows())?)?;
        *null = Some(got.value(misses.len()));
        for (j, &k) in misses.iter().enumerate() {
            answers[k] = got.value(j);
            if values.is_null(k) {
                continue;
            }
            let v = values.value(k);
            let cost = v.len() + 32;
            if v.len() <= MAX_KEY && *budget >= cost {
                *budget -= cost;
                known.insert(Box::from(v), got.value(j));
            }
        }
    }
    let answers = BooleanArray::from(answers);
    let spread = take(&answers, dictionary.keys(), None)?;
    let spread = spread.as_boolean();
    // Rows whose value is NULL have a NULL key: they take what the conjunct gives for NULL.
    if spread.null_count() == 0 {
        return Ok(spread.clone());
    }
    let known_part = prep_null_mask_filter(spread);
    if *null == Some(true) {
        Ok(or(&known_part, &is_null(spread)?)?)
    } else {
        Ok(known_part)
    }
}

/// A predicate's result as a plain mask: NULL counts as false.
fn truth(a: &ArrayRef) -> DfResult<BooleanArray> {
    let b = a.as_boolean_opt().ok_or_else(|| {
        datafusion::error::DataFusionError::Internal("a predicate that is not boolean".into())
    })?;
    Ok(if b.null_count() > 0 {
        prep_null_mask_filter(b)
    } else {
        b.clone()
    })
}
