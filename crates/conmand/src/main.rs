//! `conmand`: thin entry point; everything lives in the `conmand` library.

use std::process::ExitCode;

use clap::Parser;
use conmand::check::run_check;
use conmand::cli::{Cli, LICENSE, version_line};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // ConMan exits 1 on a bad option; help goes to stdout with 0.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("{}", version_line());
        return ExitCode::SUCCESS;
    }
    if cli.license {
        print!("{LICENSE}");
        return ExitCode::SUCCESS;
    }
    if cli.pswd_set.is_some() {
        let code = conmand::pswdfile::run_set_cli(
            &cli,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code);
    }
    if cli.cluster_status {
        let code = conmand::cluster::status::run_status(
            &cli,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code);
    }
    if cli.test_config {
        let code = run_check(
            &cli,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        return ExitCode::from(code);
    }
    conmand::run::main(cli)
}
