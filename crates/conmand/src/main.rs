//! `conmand`: thin entry point; everything lives in the `conmand` library.

use std::process::ExitCode;

use clap::Parser;
use conmand::check::run_check;
use conmand::cli::{Cli, version_line};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("{}", version_line());
        return ExitCode::SUCCESS;
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
