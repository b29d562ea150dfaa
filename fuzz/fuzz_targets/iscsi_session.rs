//! Initiator session state machine fed arbitrary PDUs: raw byte chunks, plausible responses to
//! whatever it last sent (so the fuzzer gets past login), timeouts and connection close. It
//! must never panic, must stay quiet after it fails, and must keep its output bounded.
#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use iscsi_probe::codes::{LoginStatus, ScsiStatus, ServiceResponse, Stage};
use iscsi_probe::message::{
    DataIn, LoginResponse, LogoutResponse, Message, NopIn, Reject, ResidualFlags, ScsiResponse,
    TextResponse,
};
use iscsi_probe::pdu::Pdu;
use iscsi_probe::{Auth, ChapCredentials, Event, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.u8()?, self.u8()?, self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// A response-shaped PDU for the task tag `itt`, its fields from the fuzzer.
fn reply(c: &mut Cursor<'_>, itt: u32, sn: u32) -> Option<Vec<u8>> {
    let kind = c.u8()?;
    let flags = c.u8()?;
    let x = c.u32()?;
    let len = usize::from(c.u8()?) * 4;
    let data = c.take(len).to_vec();
    let b = |bit: u8| flags & bit != 0;
    let m = match kind % 7 {
        0 => Message::LoginResponse(LoginResponse {
            transit: b(1),
            cont: b(2),
            csg: Stage((flags >> 2) & 3),
            nsg: Stage((flags >> 4) & 3),
            version_max: 0,
            version_active: 0,
            isid: [0; 6],
            tsih: 1,
            itt,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x.wrapping_add(u32::from(flags)),
            status: LoginStatus(if b(0x80) { u16::from(flags) } else { 0 }),
            data: &data,
        }),
        1 => Message::DataIn(DataIn {
            final_: b(1),
            ack: false,
            residual_flags: ResidualFlags::empty(),
            status: b(2).then_some(ScsiStatus(flags & 0x42)),
            lun: [0; 8],
            itt,
            ttt: u32::MAX,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x.wrapping_add(8),
            data_sn: u32::from(flags >> 5),
            buffer_offset: u32::from(flags >> 4) * 4,
            residual: 0,
            data: &data,
        }),
        2 => Message::ScsiResponse(ScsiResponse {
            residual_flags: ResidualFlags::empty(),
            response: ServiceResponse(flags & 1),
            status: ScsiStatus(flags & 0x0a),
            itt,
            snack_tag: 0,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x.wrapping_add(8),
            exp_data_sn: 0,
            bidi_residual: 0,
            residual: 0,
            data: &data,
        }),
        3 => Message::TextResponse(TextResponse {
            final_: b(1),
            cont: b(2),
            lun: [0; 8],
            itt,
            ttt: x,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x.wrapping_add(8),
            data: &data,
        }),
        4 => Message::LogoutResponse(LogoutResponse {
            response: iscsi_probe::codes::LogoutResponseCode(flags & 3),
            itt,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x,
            time2wait: 0,
            time2retain: 0,
        }),
        5 => Message::NopIn(NopIn {
            lun: [0; 8],
            itt: u32::MAX,
            ttt: x,
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x.wrapping_add(u32::from(flags)),
            data: &data,
        }),
        _ => Message::Reject(Reject {
            reason: iscsi_probe::codes::RejectReason(flags),
            stat_sn: sn,
            exp_cmd_sn: x,
            max_cmd_sn: x,
            data_sn: 0,
            data: &data,
        }),
    };
    let mut out = BytesMut::new();
    m.encode(&mut out).ok()?;
    Some(out.to_vec())
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor(data);
    let Some(mode) = c.u8() else { return };
    let mut config = if mode & 1 == 0 {
        SessionConfig::normal("iqn.2026-01.fuzz:i", "iqn.2026-01.fuzz:t")
    } else {
        SessionConfig::discovery("iqn.2026-01.fuzz:i")
    };
    config.auth = match mode >> 1 & 3 {
        0 | 1 => Auth::None,
        2 => Auth::chap("u", "secret"),
        _ => Auth::mutual_chap(ChapCredentials::new("u", "s"), ChapCredentials::new("t", "x")),
    };
    config.max_recv_data_segment_len = 8192;
    config.max_text_len = 16 * 1024;
    let start = Instant::now();
    let mut now = start;
    let Ok(mut s) = Session::new(config, now) else { return };
    let mut last_itt = 0u32;
    let mut stat_sn = 0u32;
    let mut failed = false;
    let mut sent = 0usize;
    while let Some(op) = c.u8() {
        while let Some(pdu) = s.poll_transmit() {
            sent += 1;
            let p = Pdu::new_checked(&pdu).expect("the session emits whole PDUs");
            if p.itt() != u32::MAX {
                last_itt = p.itt();
            }
        }
        while let Some(ev) = s.poll_event() {
            assert!(!failed, "event after failure: {ev:?}");
            if matches!(ev, Event::Failed(_)) {
                failed = true;
            }
        }
        match op % 5 {
            0 => {
                let n = usize::from(c.u8().unwrap_or(0));
                let chunk = c.take(n).to_vec();
                s.handle_input(now, &chunk);
            }
            1 | 2 => {
                if let Some(r) = reply(&mut c, last_itt, stat_sn) {
                    stat_sn = stat_sn.wrapping_add(1);
                    s.handle_input(now, &r);
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(c.u8().unwrap_or(0)) * 100);
                s.handle_timeout(now);
            }
            _ => s.handle_close(),
        }
        if let Some(d) = s.poll_timeout() {
            assert!(d >= start);
        }
        assert!(sent < 10_000, "unbounded output");
    }
});
