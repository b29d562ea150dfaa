//! Predicate parser and evaluator: arbitrary filter text against an attribute list that
//! is also taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slp_proto::attr::AttrList;
use slp_proto::predicate::Predicate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pred, attrs) = text.split_once('\n').unwrap_or((text, "(protocols=isns),(server-priority=0),transports"));
    let Ok(p) = Predicate::parse(pred) else { return };
    if let Ok(list) = AttrList::parse(attrs) {
        let a = p.matches(&list);
        // Evaluation is deterministic.
        assert_eq!(a, p.matches(&list));
    }
});
