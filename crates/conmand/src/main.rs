//! `conmand`: thin entry point; everything lives in the `conmand` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::SUCCESS
}
