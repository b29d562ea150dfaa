//! SLP message decoder: parse → encode → re-parse equality, plus every view iterated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slp_proto::{Body, Message};

fuzz_target!(|data: &[u8]| {
    let _ = slp_proto::frame_len(data);
    let Ok(m) = Message::parse(data) else { return };
    let n = match m.body {
        Body::SrvRply(r) => r.urls.iter().map(|e| e.auths.iter().count()).sum::<usize>(),
        Body::SrvReg(r) => r.attr_auths.iter().count(),
        Body::AttrRply(r) => r.auths.iter().count(),
        _ => 0,
    };
    let _ = n;
    for e in m.extensions.iter() {
        let _ = e.attr_list();
    }
    // Encoding may refuse (e.g. a language tag that is not RFC 1766). What it writes is
    // `encoded_len()` long and parses to the same message. It is canonical, so it may
    // differ from the input: the reserved byte of a URL entry is written as 0, and an error
    // reply cut short after its error code (RFC 2608 §7) is written in full.
    if let Ok(bytes) = m.to_vec() {
        assert_eq!(bytes.len(), m.encoded_len());
        assert!(bytes.len() >= data.len());
        assert_eq!(Message::parse(&bytes).unwrap(), m);
    }
});
