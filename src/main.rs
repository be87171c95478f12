//! The `jsreplay` binary: parse flags, run the command, map the outcome to a documented exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = jsreplay::cli::Cli::parse();
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
            eprintln!("jsreplay: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
