//! Attribute list parser: parse, iterate every value, re-parse the text of each attribute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slp_proto::attr::AttrList;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(list) = AttrList::parse(text) else { return };
    for a in list.iter() {
        for v in a.values() {
            if let Some(bytes) = v.opaque_bytes() {
                let _ = bytes.count();
            }
        }
        // Each attribute on its own is a valid list with the same tag and values.
        let one = AttrList::parse(a.as_str()).expect("an attribute of a valid list is valid");
        let b = one.iter().next().expect("one attribute");
        assert_eq!(b.tag(), a.tag());
        assert!(b.values().eq(a.values()));
    }
});
