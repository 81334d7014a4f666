//! The `tokend` binary: parse the command line, run the command, map the
//! outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;
use tokend::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokend: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": format!("{e:#}")}));
            }
            eprintln!("tokend: {e:#}");
            ExitCode::from(2)
        }
    }
}
