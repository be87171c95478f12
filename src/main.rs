//! The `jsreplay` binary: parse flags, run the command, map the outcome to a documented exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = jsreplay::cli::Cli::parse();
    // async-nats builds its TLS with ring, deltalake links aws-lc-rs too: with two providers in
    // the binary rustls will not choose, and a `tls://` connection would panic. One for all.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = jsreplay::commands::private_by_default() {
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
    match runtime.block_on(jsreplay::run(cli)) {
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
