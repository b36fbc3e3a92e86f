//! The `cloutdesk` binary: the CLI and the HTTP service.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cloutdesk::cli::Cli::parse();
    match cloutdesk::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
