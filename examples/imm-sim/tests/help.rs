//! `imm-sim --help` as a user of the emulator reads it.

use std::process::Command;

#[test]
fn help_first_line_describes_imm_sim_only() {
    let out = Command::new(env!("CARGO_BIN_EXE_imm-sim"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let first = help.lines().next().unwrap_or_default();
    assert!(first.contains("imm-sim"), "{first}");
    // Not the description of a package holding the manager too.
    assert!(
        !first.contains("bcm") && !first.contains("manager"),
        "{first}"
    );
}
