//! `conman`: thin entry point; everything lives in the `conman` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().collect();
    let status = conman::run(&argv, &|k| std::env::var_os(k));
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}
