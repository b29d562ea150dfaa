//! RMCP/RMCP+ packet parser: decode → (open) → re-encode equality for every datagram
//! that decodes; set-up payload decoders on whatever the payload is.
#![no_main]

use ipmi_iscsi::ipmi::{RequestFrame, ResponseFrame};
use ipmi_iscsi::rmcp::{
    CipherSuite, OpenSessionRequest, OpenSessionResponse, Packet, PayloadType, Rakp1, Rakp2,
    RakpTail, RakpTranscript, Seal, V15Packet,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = RakpTranscript {
        console_sid: 1,
        bmc_sid: 2,
        console_random: &[3; 16],
        bmc_random: &[4; 16],
        bmc_guid: &[5; 16],
        role: 0x14,
        username: b"admin",
    }
    .derive_keys(CipherSuite::SUITE_17, &[0; 20]);
    match Packet::decode(data) {
        Ok(Packet::V15(p)) => {
            let mut re = Vec::new();
            V15Packet::encode(p.message, &mut re).unwrap();
            // Session-less only (we never build v1.5 sessions); only the optional legacy
            // pad byte may differ.
            if p.sequence == 0 && p.session_id == 0 {
                assert!(re == data || (re.len() + 1 == data.len() && data.starts_with(&re)));
            }
            let _ = RequestFrame::decode(p.message);
            let _ = ResponseFrame::decode(p.message);
        }
        Ok(Packet::V2(p)) => {
            if let Ok(plain) = p.open(None) {
                let mut re = Vec::new();
                Seal {
                    payload_type: p.payload_type,
                    session_id: p.session_id,
                    sequence: p.sequence,
                    payload: &plain,
                }
                .encode(None, [0; 16], &mut re)
                .unwrap();
                if p.payload_type != PayloadType::OEM_EXPLICIT {
                    assert_eq!(re, data);
                }
                let _ = OpenSessionRequest::decode(&plain);
                let _ = OpenSessionResponse::decode(&plain);
                let _ = Rakp1::decode(&plain);
                let _ = Rakp2::decode(&plain, 32);
                let _ = RakpTail::decode(&plain, 16, "rakp 4");
                let _ = RequestFrame::decode(&plain);
            }
            if let Ok(plain) = p.open(Some(&keys)) {
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&p.payload[..16]);
                let mut re = Vec::new();
                Seal {
                    payload_type: p.payload_type,
                    session_id: p.session_id,
                    sequence: p.sequence,
                    payload: &plain,
                }
                .encode(Some(&keys), iv, &mut re)
                .unwrap();
                assert_eq!(re, data);
            }
        }
        Err(_) => {}
    }
});
