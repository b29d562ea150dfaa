//! boot-config-core: a persisted ledger is untrusted input after a crash. Arbitrary JSON must
//! load as a typed error or as a ledger whose invariants hold (no LUN or server held twice),
//! and a loaded ledger must survive an engine rebuild and reconcile.
#![no_main]

use boot_config_core::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ledger) = serde_json::from_slice::<Ledger>(data) else {
        return;
    };
    let mut seen = std::collections::BTreeSet::new();
    for a in ledger.iter() {
        for l in a.selection.luns() {
            assert!(seen.insert(l.clone()), "{l} held twice after load");
        }
    }
    let again: Ledger = serde_json::from_slice(&serde_json::to_vec(&ledger).unwrap()).unwrap();
    assert_eq!(again, ledger);
    let e = Engine::with_ledger(EngineConfig::new(2026, 1, "example.com").unwrap(), ledger);
    e.verify().unwrap();
    let _ = e.reconcile(Timestamp::from_millis(0));
});
