//! Progress on stderr: an indicatif bar over the frozen sequence range, with rate and ETA.
//!
//! The total is known once the range is frozen, so the bar advances by sequence (gaps and
//! filtered-out messages count as done). It is hidden when stderr is not a terminal or with
//! `--quiet`, so scheduled jobs and pipes get only the one summary line.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::nats::cursor::Progress;

/// A progress bar over the slices of a range, or a hidden one; one callback per slice.
pub fn sequence_bar(slices: &[(u64, u64)], quiet: bool) -> (ProgressBar, Vec<Progress>) {
    let total: u64 = slices.iter().map(|(a, b)| b - a + 1).sum();
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {human_pos}/{human_len} seq \
                 ({per_sec}, ETA {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b.enable_steady_tick(Duration::from_millis(250));
        b
    };
    let done: Arc<Vec<AtomicU64>> = Arc::new(slices.iter().map(|_| AtomicU64::new(0)).collect());
    let callbacks = slices
        .iter()
        .enumerate()
        .map(|(i, &(first, last))| {
            let (handle, done) = (bar.clone(), done.clone());
            let progress: Progress = Arc::new(move |seq: u64| {
                if seq >= first {
                    done[i].store((seq.min(last)) - first + 1, Ordering::Relaxed);
                    handle.set_position(done.iter().map(|d| d.load(Ordering::Relaxed)).sum());
                }
            });
            progress
        })
        .collect();
    (bar, callbacks)
}
