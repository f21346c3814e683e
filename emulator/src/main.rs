//! The `ddbrep-emu` binary. The server is not built yet (issue #5); until then it says so and exits non-zero.

fn main() -> std::process::ExitCode {
    eprintln!("ddbrep-emu: the emulator is not built yet (see issue #5); this binary is a placeholder");
    std::process::ExitCode::from(2)
}
