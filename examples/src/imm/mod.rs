//! The BMC/IMM emulator behind the `imm-sim` binary (being built; see issue 7).
