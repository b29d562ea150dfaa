//! `imm-sim`: the BMC/IMM emulator (see `bcm::imm` for what it does and `--help` for flags).

fn main() -> std::process::ExitCode {
    bcm::imm::cli::main()
}
