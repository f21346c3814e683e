//! The `ddbrep` binary. The tools are not built yet (issue #7); until then it says so and exits non-zero.

fn main() -> std::process::ExitCode {
    eprintln!("ddbrep: the tools are not built yet (see issue #7); this binary is a placeholder");
    std::process::ExitCode::from(2)
}
