//! Property tests: every boot-option encoding round-trips, decoders never panic on
//! arbitrary bytes, and the BMC store keeps its semantics under arbitrary command sequences.

mod bootopt_common;
use bootopt_common as common;

use std::time::Duration;

use ipmi_iscsi::bootopt::{
    AckAgents, Block, BootDevice, BootFlags, BootInfoAck, BootInitiatorInfo, BootParam, Dialect,
    GetResponse, IscsiState, Pen, ReadExchange, SetInProgress, ValidBitClearing, WriteExchange,
    WritePlan, get_request, mailbox, oem, set_request,
};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, chassis, drive};
use ipmi_iscsi::params::IscsiBootParams;
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use proptest::prelude::*;

fn flags() -> impl Strategy<Value = BootFlags> {
    (any::<[bool; 7]>(), 0u8..16, any::<u8>(), 0u8..16, 0u8..32).prop_map(
        |(b, device, byte3, bios_mux, instance)| BootFlags {
            valid: b[0],
            persistent: b[1],
            efi: b[2],
            cmos_clear: b[3],
            lock_keyboard: b[4],
            device: BootDevice(device),
            screen_blank: b[5],
            lock_reset: b[6],
            byte3,
            bios_mux,
            instance,
        },
    )
}

proptest! {
    #[test]
    fn standard_parameters_round_trip(
        sip in prop_oneof![Just(SetInProgress::Complete), Just(SetInProgress::InProgress), Just(SetInProgress::CommitWrite)],
        vbc in any::<u8>(),
        ack in any::<(u8, u8)>(),
        f in flags(),
        info in (0u8..16, any::<u32>(), any::<u32>()),
    ) {
        prop_assert_eq!(SetInProgress::decode(&sip.encode()).unwrap(), sip);
        let v = ValidBitClearing::from_bits_truncate(vbc);
        prop_assert_eq!(ValidBitClearing::decode(&v.encode()).unwrap(), v);
        let a = BootInfoAck { write_mask: AckAgents::from_bits_truncate(ack.0), handled: AckAgents::from_bits_truncate(ack.1) };
        prop_assert_eq!(BootInfoAck::decode(&a.encode()).unwrap(), a);
        prop_assert_eq!(BootFlags::decode(&f.encode()).unwrap(), f);
        let i = BootInitiatorInfo { channel: info.0, session_id: info.1, timestamp: info.2 };
        prop_assert_eq!(BootInitiatorInfo::decode(&i.encode()).unwrap(), i);
    }

    #[test]
    fn decoding_arbitrary_five_bytes_then_encoding_keeps_defined_bits(bytes in any::<[u8; 5]>()) {
        let f = BootFlags::decode(&bytes).unwrap();
        let mask = [0xe0, 0xff, 0xff, 0x0f, 0x1f];
        let expect: Vec<u8> = bytes.iter().zip(mask).map(|(b, m)| b & m).collect();
        prop_assert_eq!(f.encode().to_vec(), expect);
    }

    #[test]
    fn block_and_get_response_round_trip(index in any::<u8>(), data in any::<[u8; 16]>(), param in 0u8..128, invalid in any::<bool>()) {
        let b = Block { index, data };
        prop_assert_eq!(Block::decode(&b.encode()).unwrap(), b);
        let body = b.encode();
        let r = GetResponse { param: BootParam(param), invalid, data: &body };
        let wire = r.encode();
        prop_assert_eq!(GetResponse::decode(&wire).unwrap(), r);
    }

    #[test]
    fn mailbox_payload_round_trips_and_never_holds_secrets(p in common::params(), pen in 0u32..0x0100_0000) {
        let public = p.without_secrets();
        let pen = Pen::new(pen).unwrap();
        let payload = mailbox::encode_payload(&public).unwrap();
        let blocks = mailbox::payload_to_blocks(pen, &payload);
        prop_assert_eq!(blocks.len(), mailbox::blocks_for(payload.len()));
        prop_assert_eq!(mailbox::decode_blocks(pen, &blocks).unwrap(), public);
        if let Some(c) = p.auth.initiator() {
            let secret = c.secret.expose().as_bytes();
            prop_assert!(!payload.windows(secret.len()).any(|w| w == secret));
        }
    }

    #[test]
    fn oem_records_round_trip_with_secret_lengths(p in common::params(), enable in any::<bool>()) {
        let records = oem::encode_records(&p, true, enable).unwrap();
        prop_assert_eq!(records.last().map(|r| r.0), Some(BootParam::OEM_CONTROL));
        let mut framed = Vec::new();
        for (param, rec) in &records {
            let blocks = oem::record_to_blocks(rec).unwrap();
            prop_assert!(blocks.len() <= oem::MAX_RECORD_BLOCKS);
            framed.push((*param, oem::record_from_blocks(&blocks).unwrap()));
        }
        let public = oem::decode_public(|q| framed.iter().find(|(p, _)| *p == q).map(|(_, r)| r.as_slice())).unwrap();
        prop_assert_eq!(public, p.without_secrets());
        let control = &framed.iter().find(|(q, _)| *q == BootParam::OEM_CONTROL).unwrap().1;
        prop_assert_eq!(oem::decode_control(control).unwrap(), enable);
    }

    #[test]
    fn mailbox_decoder_never_panics_on_arbitrary_blocks(raw in proptest::collection::vec(any::<[u8; 16]>(), 0..20), pen in any::<u16>()) {
        let blocks: Vec<Block> = raw.into_iter().zip(0u8..).map(|(data, index)| Block { index, data }).collect();
        let _ = mailbox::decode_blocks(Pen::new(u32::from(pen)).unwrap(), &blocks);
        if let Some(first) = blocks.first() {
            let _ = mailbox::blocks_declared(Pen::EXAMPLE, first);
        }
        let _ = mailbox::decode_payload(&blocks.iter().flat_map(|b| b.data).collect::<Vec<_>>(), 0);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = GetResponse::decode(&bytes);
        let _ = Block::decode(&bytes);
        let _ = BootFlags::decode(&bytes);
        let _ = BootInitiatorInfo::decode(&bytes);
        let _ = SetInProgress::decode(&bytes);
        let _ = oem::decode_control(&bytes);
        let _ = oem::decode_public(|_| Some(bytes.as_slice()));
        let _ = mailbox::decode_payload(&bytes, 0);
    }

    #[test]
    fn truncated_mailbox_payload_is_an_error(p in common::params()) {
        let payload = mailbox::encode_payload(&p.without_secrets()).unwrap();
        for n in 0..payload.len() {
            prop_assert!(mailbox::decode_payload(&payload[..n], 0).is_err());
        }
    }
}

/// One step of an arbitrary client talking to the store.
#[derive(Clone, Debug)]
enum Cmd {
    Set(u8, Vec<u8>),
    Get(u8, u8, u8),
    Control(u8),
    Status,
    Advance(u16),
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let interesting = prop_oneof![0u8..8, 0x60u8..0x6c, any::<u8>()];
    prop_oneof![
        (
            interesting.clone(),
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(p, d)| Cmd::Set(p, d)),
        (interesting, 0u8..20, any::<u8>()).prop_map(|(p, s, b)| Cmd::Get(p, s, b)),
        (0u8..8).prop_map(Cmd::Control),
        Just(Cmd::Status),
        (0u16..120).prop_map(Cmd::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Invariants after every command: Set answers carry no data; a Get that succeeds
    /// carries version 1 and the parameter asked for; the mailbox never changes size;
    /// "set in progress" is only entered from "set complete"; the store survives a
    /// serde round trip unchanged.
    #[test]
    fn store_keeps_its_semantics_under_arbitrary_commands(
        blocks in 1u16..=20,
        cmds in proptest::collection::vec(cmd(), 1..60),
    ) {
        let mut s = BootOptionsStore::new(StoreConfig { mailbox_blocks: blocks, ..StoreConfig::default() });
        let mut now = Duration::ZERO;
        for c in cmds {
            let before = s.set_in_progress();
            match c {
                Cmd::Set(p, d) => {
                    let mut data = vec![p];
                    data.extend(d.iter().copied());
                    let r = s.handle(now, &Request::new(NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS, data));
                    prop_assert!(r.data.is_empty());
                    if p & 0x7f == 0 && d.first().map(|b| b & 3) == Some(1) && r.is_ok() {
                        prop_assert_eq!(before, SetInProgress::Complete);
                    }
                    if p & 0x7f == 0 && d.len() == 1 && d[0] & 3 == 1 && before != SetInProgress::Complete {
                        prop_assert_eq!(r.completion, CompletionCode::BOOT_PARAM_SET_IN_PROGRESS);
                    }
                }
                Cmd::Get(p, set, b) => {
                    let r = s.handle(now, &get_request(BootParam(p & 0x7f), set, b));
                    if r.is_ok() {
                        let g = GetResponse::decode(&r.data).unwrap();
                        prop_assert_eq!(g.param, BootParam(p & 0x7f));
                    }
                    if p & 0x7f == 7 {
                        prop_assert_eq!(r.is_ok(), u16::from(set) < blocks);
                    }
                }
                Cmd::Control(c) => {
                    let r = s.handle(now, &Request::new(NetFn::CHASSIS, chassis::CHASSIS_CONTROL, [c]));
                    prop_assert_eq!(r.is_ok(), c <= 5);
                }
                Cmd::Status => {
                    let r = s.handle(now, &Request::new(NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS, []));
                    prop_assert_eq!(r.data[0] & 1, u8::from(s.chassis().power_on));
                }
                Cmd::Advance(secs) => {
                    now += Duration::from_secs(u64::from(secs));
                    s.handle_timeout(now);
                }
            }
            prop_assert_eq!(s.mailbox().len(), usize::from(blocks));
            while s.poll_event().is_some() {}
        }
        let json = serde_json::to_string(&s).unwrap();
        let back: BootOptionsStore = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, s);
    }

    /// The valid bit survives exactly as long as the spec says.
    #[test]
    fn valid_bit_clears_exactly_after_60_seconds_without_param3(set_at in 0u64..1000, wait in 0u64..200, keep in any::<bool>()) {
        let mut s = BootOptionsStore::new(StoreConfig::default());
        if keep {
            s.handle(Duration::ZERO, &set_request(BootParam::VALID_BIT_CLEARING, &[0x08]));
        }
        s.handle(Duration::from_secs(set_at), &set_request(BootParam::BOOT_FLAGS, &[0x80, 0x04, 0, 0, 0]));
        s.handle_timeout(Duration::from_secs(set_at + wait));
        prop_assert_eq!(s.boot_flags().valid, keep || wait < 60);
    }

    /// Whatever valid parameters are written through either dialect, the store holds them
    /// and a fresh read returns them.
    #[test]
    fn write_then_read_is_identity_on_the_store(p in common::params(), oem_dialect in any::<bool>()) {
        let mut s = BootOptionsStore::new(StoreConfig { mailbox_blocks: 256, ..StoreConfig::default() });
        let dialect = if oem_dialect { Dialect::Oem { confidential: true } } else { Dialect::Mailbox { pen: Pen::EXAMPLE } };
        let mut ex = WriteExchange::new(&WritePlan::new(p.clone(), dialect)).unwrap();
        drive(&mut ex, |r| Ok::<_, ()>(s.handle(Duration::ZERO, r))).unwrap();
        prop_assert!(ex.into_outcome().unwrap().is_ok());
        let mut read = ReadExchange::new(dialect);
        drive(&mut read, |r| Ok::<_, ()>(s.handle(Duration::ZERO, r))).unwrap();
        match read.outcome().unwrap().iscsi {
            IscsiState::Mailbox(got) => prop_assert_eq!(got, p.without_secrets()),
            IscsiState::Oem(got) => prop_assert_eq!(got.params, p.without_secrets()),
            other => prop_assert!(false, "{:?}", other),
        }
        if oem_dialect {
            let stored: IscsiBootParams = s.oem_params().unwrap();
            prop_assert_eq!(stored.auth.initiator().map(|c| c.secret.expose().to_owned()),
                            p.auth.initiator().map(|c| c.secret.expose().to_owned()));
        }
    }
}
