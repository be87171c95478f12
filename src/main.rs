//! The `jsreplay` binary: parse flags, run the command, map the outcome to a documented exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: the export's decoding and the SQL engine's hash
/// tables allocate millions of small values per second (`make bench` measures the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's arenas are committed as they are used, not up front. Measured with its
/// `MIMALLOC_ARENA_EAGER_COMMIT` variable on an export of 200,000 messages (release build): peak
/// RSS 157 -> 117 MB with 1 worker, 222 -> 165 MB with 2, 331 -> 229 MB with 4, as fast. (Purging
/// freed memory at once as well, `MIMALLOC_PURGE_DELAY=0`, halved it again but cost a quarter of
/// the speed with 1 worker; not set.) The variable, when given, still wins.
///
/// The option must be set before mimalloc creates its first arena, which happens at the first
/// allocation, before `main`: this runs as an early constructor (a prioritised `.init_array`
/// entry runs before the default ones, mimalloc's own included).
extern "C" fn tune_allocator() {
    // `mi_option_arena_eager_commit` in mimalloc 3's `mi_option_e` (include/mimalloc.h).
    const ARENA_EAGER_COMMIT: i32 = 4;
    // SAFETY: getenv with a NUL-terminated name, before any thread exists; mi_option_set stores
    // one of mimalloc's integer options (0 is valid for this one) and allocates nothing.
    unsafe {
        if libc::getenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr()).is_null() {
            libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        }
    }
}

#[used]
#[link_section = ".init_array.00100"]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

fn main() -> ExitCode {
    let cli = jsreplay::cmd::Cli::parse();
    // async-nats builds its TLS with ring, deltalake links aws-lc-rs too: with two providers in
    // the binary rustls will not choose, and a `tls://` connection would panic. One for all.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = jsreplay::cmd::private_by_default() {
        eprintln!(
            "jsreplay: error: {}",
            jsreplay::escape::terminal(&e.to_string())
        );
        return ExitCode::from(e.exit_code());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jsreplay: cannot start the async runtime: {e}");
            return ExitCode::from(jsreplay::error::exit::FAILURE);
        }
    };
    let outcome = runtime.block_on(jsreplay::run(cli));
    // Whatever still runs is abandoned, not waited for: a query cancelled in the SQL shell may
    // be inside a long computation that only notices its cancellation at its next batch.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote subjects, paths and server answers: escape what a terminal would run.
            eprintln!(
                "jsreplay: error: {}",
                jsreplay::escape::terminal_block(&e.to_string())
            );
            ExitCode::from(e.exit_code())
        }
    }
}
