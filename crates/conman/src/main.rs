//! `conman`: thin entry point; everything lives in the `conman` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::SUCCESS
}
