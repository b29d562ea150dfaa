//! `imm-sim`: the BMC/IMM emulator (see the `imm_sim` library docs for what it does and
//! `--help` for flags).

fn main() -> std::process::ExitCode {
    imm_sim::cli::main()
}
