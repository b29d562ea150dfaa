//! `bcm`: the iSCSI boot configuration manager (command-line entry point).

fn main() {
    println!("bcm: not yet wired; see README.md");
}
