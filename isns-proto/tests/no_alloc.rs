//! Decoding allocates nothing: a counting global allocator watches the process while every
//! captured vector is parsed, split into its message view and every attribute decoded.

mod common;

use std::alloc::System;

use isns_proto::{Body, Pdu};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn walk(bytes: &[u8]) -> usize {
    let pdu = Pdu::parse(bytes).unwrap();
    let mut n = 0;
    match pdu.body().unwrap() {
        Body::Request(r) => {
            if let Some(s) = r.source() {
                s.typed().unwrap();
                n += 1;
            }
            for a in r.key().chain(r.operating()) {
                a.unwrap().typed().unwrap();
                n += 1;
            }
        }
        Body::Response(r) => {
            for a in r.key().chain(r.operating()) {
                let a = a.unwrap();
                a.typed().unwrap();
                let _ = (a.as_str(), a.as_ip(), a.as_port(), a.as_u32(), a.as_u64());
                n += 1;
            }
        }
        Body::Notification(x) => {
            for a in x.attrs() {
                a.unwrap().typed().unwrap();
                n += 1;
            }
        }
        _ => {}
    }
    n
}

#[test]
fn decoding_every_vector_allocates_nothing() {
    let vectors = common::load_vectors();
    let region = Region::new(GLOBAL);
    let mut attrs = 0;
    for v in &vectors {
        attrs += walk(&v.bytes);
    }
    let change = region.change();
    assert!(attrs > 140, "walked only {attrs} attributes");
    assert_eq!(
        change.allocations + change.reallocations,
        0,
        "decoding allocated: {change:?}"
    );
    // The counter itself works: an allocation inside a region is seen.
    let region = Region::new(GLOBAL);
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(region.change().allocations > 0);
    drop(v);
}
