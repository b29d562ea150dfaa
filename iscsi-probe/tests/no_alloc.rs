//! Decoding allocates nothing: a counting global allocator watches while every captured PDU is
//! framed, typed, its text walked and its SCSI parameter data viewed.

mod common;

use std::alloc::System;

use iscsi_probe::message::Message;
use iscsi_probe::pdu::Pdu;
use iscsi_probe::scsi::{Capacity, InquiryData, LunList, Sense};
use iscsi_probe::text;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn walk(bytes: &[u8]) -> usize {
    let (pdu, _) = Pdu::parse(bytes, 1 << 20).unwrap().unwrap();
    let mut n = 1;
    match Message::from_pdu(pdu) {
        Message::LoginRequest(m) => n += text::pairs(m.data).filter(Result::is_ok).count(),
        Message::LoginResponse(m) => n += text::pairs(m.data).filter(Result::is_ok).count(),
        Message::TextRequest(m) => n += text::pairs(m.data).filter(Result::is_ok).count(),
        Message::TextResponse(m) => n += text::pairs(m.data).filter(Result::is_ok).count(),
        Message::DataIn(d) => {
            n += usize::from(InquiryData::parse(d.data).is_ok_and(|i| !i.vendor().is_empty()));
            n += LunList::parse(d.data).map_or(0, |l| l.iter().count());
            n += usize::from(Capacity::parse16(d.data).is_ok_and(|c| c.bytes().is_some()));
        }
        Message::ScsiResponse(r) => {
            if let Ok(Some(s)) = r.sense() {
                n += usize::from(Sense::parse(s).is_ok());
            }
        }
        _ => {}
    }
    n
}

#[test]
fn decoding_every_captured_pdu_allocates_nothing() {
    let vectors = common::load();
    let region = Region::new(GLOBAL);
    let mut seen = 0;
    for v in &vectors {
        seen += walk(&v.bytes);
    }
    let change = region.change();
    assert!(seen > 100, "walked only {seen} items");
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
