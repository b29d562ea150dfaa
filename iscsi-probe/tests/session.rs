//! The sans-IO session driven against an in-memory target built from this crate's own PDU
//! builders, with a manual clock and knobs for what real targets do now and then: unit
//! attentions, no READ CAPACITY(16), data split over many Data-In PDUs, status in the last
//! Data-In, continued SendTargets text, NOP-In pings, CHAP and mutual CHAP.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use iscsi_probe::chap::{self, Secret};
use iscsi_probe::codes::{
    DeviceType, LoginStatus, LogoutResponseCode, ScsiStatus, SenseKey, ServiceResponse, Stage,
};
use iscsi_probe::message::{
    DataIn, LoginResponse, LogoutResponse, Message, NopIn, ResidualFlags, ScsiResponse,
    TextResponse,
};
use iscsi_probe::pdu::{Pdu, RESERVED_TAG};
use iscsi_probe::scsi::Lun;
use iscsi_probe::text::{self, TextBuilder};
use iscsi_probe::{
    Auth, AuthError, ChapCredentials, DecodeError, Event, LunError, LunState, Phase, ProtocolError,
    Session, SessionConfig, SessionError, TargetReport,
};

const INITIATOR: &str = "iqn.2026-01.test:init";
const TARGET: &str = "iqn.2026-01.test:target";

#[derive(Clone)]
struct FakeLun {
    number: u16,
    device_type: DeviceType,
    last_lba: u64,
    block_len: u32,
}

struct FakeTarget {
    luns: Vec<FakeLun>,
    chap: Option<(String, Vec<u8>)>,
    mutual: Option<(String, Vec<u8>)>,
    login_status: LoginStatus,
    unit_attention: BTreeSet<u16>,
    no_rc16: bool,
    data_in_chunk: usize,
    status_in_data_in: bool,
    ping_before_commands: bool,
    split_text: bool,
    targets: Vec<String>,
    stat_sn: u32,
    exp_cmd_sn: u32,
    commands: Vec<(u16, u8)>,
    pinged: bool,
    ping_answered: bool,
    challenge: [u8; 16],
    /// Every PDU received: (opcode, immediate, CmdSN, ExpStatSN).
    seen: Vec<(u8, bool, u32, u32)>,
    /// Grant a zero command window at login (MaxCmdSN = ExpCmdSN - 1); `open_after` says
    /// whether a NOP-In then opens it.
    close_window: bool,
    open_after: bool,
    /// The last StatSN sent.
    last_stat_sn: u32,
}

impl FakeTarget {
    fn new() -> Self {
        let disk = |number, last_lba, block_len| FakeLun {
            number,
            device_type: DeviceType::DIRECT_ACCESS,
            last_lba,
            block_len,
        };
        FakeTarget {
            luns: vec![
                FakeLun {
                    number: 0,
                    device_type: DeviceType::STORAGE_ARRAY_CONTROLLER,
                    last_lba: 0,
                    block_len: 0,
                },
                disk(1, 65_535, 512),
                disk(2, 2_097_151, 512),
                disk(3, 262_143, 4096),
            ],
            chap: None,
            mutual: None,
            login_status: LoginStatus::SUCCESS,
            unit_attention: BTreeSet::new(),
            no_rc16: false,
            data_in_chunk: 4096,
            status_in_data_in: true,
            ping_before_commands: false,
            split_text: false,
            targets: vec!["iqn.2026-01.test:t1".into(), "iqn.2026-01.test:t2".into()],
            stat_sn: 100,
            exp_cmd_sn: 0,
            commands: Vec::new(),
            pinged: false,
            ping_answered: false,
            challenge: [0x5a; 16],
            seen: Vec::new(),
            close_window: false,
            open_after: true,
            last_stat_sn: 0,
        }
    }

    fn next_stat_sn(&mut self) -> u32 {
        self.stat_sn += 1;
        self.last_stat_sn = self.stat_sn - 1;
        self.last_stat_sn
    }

    fn login(&mut self, out: &mut Vec<Vec<u8>>, req: &iscsi_probe::message::LoginRequest<'_>) {
        self.exp_cmd_sn = req.cmd_sn;
        let mut t = TextBuilder::new();
        let mut status = LoginStatus::SUCCESS;
        let (mut transit, mut csg, mut nsg) = (req.transit, req.csg, req.nsg);
        let find = |k: &str| text::find(req.data, k).unwrap().map(str::to_owned);
        if req.csg == Stage::SECURITY {
            if let Some(m) = find("AuthMethod") {
                if let Some(want) = find("TargetName")
                    && want != TARGET
                {
                    status = LoginStatus::NOT_FOUND;
                }
                if self.login_status != LoginStatus::SUCCESS {
                    status = self.login_status;
                }
                if self.chap.is_some() {
                    if m.split(',').any(|x| x == "CHAP") {
                        t.push("AuthMethod", "CHAP").unwrap();
                        transit = false;
                    } else {
                        status = LoginStatus::AUTHENTICATION_FAILURE;
                    }
                } else {
                    t.push("AuthMethod", "None").unwrap();
                }
            } else if find("CHAP_A").is_some() {
                t.push("CHAP_A", "5").unwrap();
                t.push("CHAP_I", "7").unwrap();
                t.push("CHAP_C", &chap::encode_binary(&self.challenge))
                    .unwrap();
                transit = false;
            } else if let Some(r) = find("CHAP_R") {
                let (name, secret) = self.chap.clone().unwrap();
                let expected = chap::response(7, &Secret::new(secret), &self.challenge);
                let got = chap::decode_binary(&r, 64).unwrap();
                if find("CHAP_N").as_deref() != Some(name.as_str()) || got != expected {
                    status = LoginStatus::AUTHENTICATION_FAILURE;
                }
                if let (Some(i), Some(c)) = (find("CHAP_I"), find("CHAP_C")) {
                    let (mname, msecret) = self.mutual.clone().unwrap();
                    let c = chap::decode_binary(&c, 1024).unwrap();
                    let r = chap::response(i.parse().unwrap(), &Secret::new(msecret), &c);
                    t.push("CHAP_N", &mname).unwrap();
                    t.push("CHAP_R", &chap::encode_binary(&r)).unwrap();
                }
            }
        } else {
            t.push("HeaderDigest", "None").unwrap();
            t.push("DataDigest", "None").unwrap();
            t.push("TargetAlias", "fake").unwrap();
        }
        if !transit {
            nsg = Stage(0);
        }
        if status != LoginStatus::SUCCESS {
            transit = false;
            csg = req.csg;
            nsg = Stage(0);
        }
        let stat_sn = self.next_stat_sn();
        let data = t.into_bytes();
        let last = transit && nsg == Stage::FULL_FEATURE;
        let window = if self.close_window {
            0u32.wrapping_sub(1)
        } else {
            16
        };
        let r = LoginResponse {
            transit,
            cont: false,
            csg,
            nsg,
            version_max: 0,
            version_active: 0,
            isid: req.isid,
            tsih: if transit && nsg == Stage::FULL_FEATURE {
                0x1234
            } else {
                0
            },
            itt: req.itt,
            stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.exp_cmd_sn.wrapping_add(window),
            status,
            data: &data,
        };
        out.push(enc(&Message::LoginResponse(r)));
        if last && self.close_window && self.open_after {
            let n = NopIn {
                lun: [0; 8],
                itt: RESERVED_TAG,
                ttt: RESERVED_TAG,
                stat_sn: self.stat_sn,
                exp_cmd_sn: self.exp_cmd_sn,
                max_cmd_sn: self.exp_cmd_sn + 16,
                data: &[],
            };
            out.push(enc(&Message::NopIn(n)));
        }
    }

    fn scsi_data(&mut self, lun: u16, cdb: &[u8; 16]) -> Result<Vec<u8>, (u8, u8, u8)> {
        let fake = self.luns.iter().find(|l| l.number == lun).cloned();
        self.commands.push((lun, cdb[0]));
        let is_capacity = cdb[0] == 0x25 || cdb[0] == 0x9e;
        if is_capacity && self.unit_attention.remove(&lun) {
            return Err((0x06, 0x29, 0x00));
        }
        match cdb[0] {
            0xa0 => {
                let mut d = Vec::new();
                d.extend_from_slice(&u32::try_from(8 * self.luns.len()).unwrap().to_be_bytes());
                d.extend_from_slice(&[0; 4]);
                for l in &self.luns {
                    d.extend_from_slice(&Lun::from_number(l.number).unwrap().0);
                }
                let alloc = u32::from_be_bytes(cdb[6..10].try_into().unwrap());
                d.truncate(usize::try_from(alloc).unwrap());
                Ok(d)
            }
            0x12 => {
                let f = fake.ok_or((0x05, 0x25, 0x00))?;
                let mut d = vec![b' '; 36];
                d[0] = f.device_type.0;
                d[2] = 5;
                d[4] = 31;
                d[8..12].copy_from_slice(b"FAKE");
                d[16..20].copy_from_slice(b"DISK");
                d[32..36].copy_from_slice(b"0001");
                Ok(d)
            }
            0x9e if self.no_rc16 => Err((0x05, 0x20, 0x00)),
            0x9e => {
                let f = fake.ok_or((0x05, 0x25, 0x00))?;
                let mut d = vec![0u8; 32];
                d[..8].copy_from_slice(&f.last_lba.to_be_bytes());
                d[8..12].copy_from_slice(&f.block_len.to_be_bytes());
                Ok(d)
            }
            0x25 => {
                let f = fake.ok_or((0x05, 0x25, 0x00))?;
                let mut d = vec![0u8; 8];
                let lba = u32::try_from(f.last_lba).unwrap_or(u32::MAX);
                d[..4].copy_from_slice(&lba.to_be_bytes());
                d[4..].copy_from_slice(&f.block_len.to_be_bytes());
                Ok(d)
            }
            _ => Err((0x05, 0x20, 0x00)),
        }
    }

    fn handle(&mut self, pdu: Pdu<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let b = pdu.bhs();
        let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        self.seen
            .push((pdu.opcode().0, pdu.immediate(), word(24), word(28)));
        match Message::from_pdu(pdu) {
            Message::LoginRequest(r) => self.login(&mut out, &r),
            Message::NopOut(n) => {
                assert_eq!(n.ttt, 0xabcd, "NOP-Out must echo the ping's TTT");
                assert_eq!(n.itt, RESERVED_TAG);
                assert_eq!(n.data, b"ping");
                self.ping_answered = true;
            }
            Message::ScsiCommand(c) => {
                self.exp_cmd_sn = c.cmd_sn.wrapping_add(1);
                if self.ping_before_commands && !self.pinged {
                    self.pinged = true;
                    let n = NopIn {
                        lun: [0; 8],
                        itt: RESERVED_TAG,
                        ttt: 0xabcd,
                        stat_sn: self.stat_sn,
                        exp_cmd_sn: self.exp_cmd_sn,
                        max_cmd_sn: self.exp_cmd_sn + 16,
                        data: b"ping",
                    };
                    out.push(enc(&Message::NopIn(n)));
                }
                let lun = Lun(c.lun).number().unwrap();
                match self.scsi_data(lun, &c.cdb) {
                    Ok(mut d) => {
                        d.truncate(usize::try_from(c.expected_len).unwrap());
                        let chunks: Vec<&[u8]> = d.chunks(self.data_in_chunk).collect();
                        let last = chunks.len().saturating_sub(1);
                        for (i, chunk) in chunks.iter().enumerate() {
                            let with_status = i == last && self.status_in_data_in;
                            let stat_sn = if with_status { self.next_stat_sn() } else { 0 };
                            let di = DataIn {
                                final_: i == last,
                                ack: false,
                                residual_flags: ResidualFlags::empty(),
                                status: with_status.then_some(ScsiStatus::GOOD),
                                lun: c.lun,
                                itt: c.itt,
                                ttt: RESERVED_TAG,
                                stat_sn,
                                exp_cmd_sn: self.exp_cmd_sn,
                                max_cmd_sn: self.exp_cmd_sn + 16,
                                data_sn: u32::try_from(i).unwrap(),
                                buffer_offset: u32::try_from(i * self.data_in_chunk).unwrap(),
                                residual: 0,
                                data: chunk,
                            };
                            out.push(enc(&Message::DataIn(di)));
                        }
                        if !self.status_in_data_in || chunks.is_empty() {
                            out.push(self.response(c.itt, ScsiStatus::GOOD, &[]));
                        }
                    }
                    Err((key, asc, ascq)) => {
                        let mut sense = vec![0u8; 18];
                        sense[0] = 0x70;
                        sense[2] = key;
                        sense[7] = 10;
                        sense[12] = asc;
                        sense[13] = ascq;
                        let mut seg = vec![0, 18];
                        seg.extend_from_slice(&sense);
                        out.push(self.response(c.itt, ScsiStatus::CHECK_CONDITION, &seg));
                    }
                }
            }
            Message::TextRequest(t) => {
                self.exp_cmd_sn = t.cmd_sn.wrapping_add(1);
                let mut b = TextBuilder::new();
                for name in &self.targets {
                    b.push("TargetName", name).unwrap();
                    b.push("TargetAddress", "127.0.0.1:3260,1").unwrap();
                }
                let all = b.into_bytes();
                let (data, final_, ttt) = if self.split_text && t.ttt == RESERVED_TAG {
                    (&all[..all.len() / 2 + 3], false, 0x55)
                } else if self.split_text {
                    assert_eq!(t.ttt, 0x55, "continuation must carry the target's TTT");
                    (&all[all.len() / 2 + 3..], true, RESERVED_TAG)
                } else {
                    (&all[..], true, RESERVED_TAG)
                };
                let stat_sn = self.next_stat_sn();
                let r = TextResponse {
                    final_,
                    cont: !final_,
                    lun: [0; 8],
                    itt: t.itt,
                    ttt,
                    stat_sn,
                    exp_cmd_sn: self.exp_cmd_sn,
                    max_cmd_sn: self.exp_cmd_sn + 16,
                    data,
                };
                out.push(enc(&Message::TextResponse(r)));
            }
            Message::LogoutRequest(l) => {
                let stat_sn = self.next_stat_sn();
                let r = LogoutResponse {
                    response: LogoutResponseCode::CLOSED,
                    itt: l.itt,
                    stat_sn,
                    exp_cmd_sn: self.exp_cmd_sn,
                    max_cmd_sn: self.exp_cmd_sn + 16,
                    time2wait: 0,
                    time2retain: 0,
                };
                out.push(enc(&Message::LogoutResponse(r)));
            }
            other => panic!("fake target got {other:?}"),
        }
        out
    }

    fn response(&mut self, itt: u32, status: ScsiStatus, data: &[u8]) -> Vec<u8> {
        let stat_sn = self.next_stat_sn();
        enc(&Message::ScsiResponse(ScsiResponse {
            residual_flags: ResidualFlags::empty(),
            response: ServiceResponse::COMPLETED,
            status,
            itt,
            snack_tag: 0,
            stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.exp_cmd_sn + 16,
            exp_data_sn: 0,
            bidi_residual: 0,
            residual: 0,
            data,
        }))
    }
}

fn enc(m: &Message<'_>) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b).unwrap();
    b.to_vec()
}

/// Runs the session against the target until it closes; feeds responses `chunk` bytes at a time.
fn drive(config: SessionConfig, target: &mut FakeTarget, chunk: usize) -> Vec<Event> {
    let now = Instant::now();
    let mut s = Session::new(config, now).unwrap();
    let mut events = Vec::new();
    for _ in 0..1000 {
        while let Some(ev) = s.poll_event() {
            events.push(ev);
        }
        if s.is_closed() {
            return events;
        }
        let Some(wire) = s.poll_transmit() else {
            panic!("session stalled: {events:?}")
        };
        let pdu = Pdu::new_checked(&wire).unwrap();
        for resp in target.handle(pdu) {
            for piece in resp.chunks(chunk) {
                s.handle_input(now, piece);
            }
        }
    }
    panic!("session never closed: {events:?}");
}

fn report(events: &[Event]) -> &TargetReport {
    events
        .iter()
        .find_map(|e| {
            if let Event::Report(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .unwrap_or_else(|| panic!("no report in {events:?}"))
}

fn failure(events: &[Event]) -> &SessionError {
    events
        .iter()
        .find_map(|e| {
            if let Event::Failed(f) = e {
                Some(f)
            } else {
                None
            }
        })
        .unwrap_or_else(|| panic!("no failure in {events:?}"))
}

fn normal() -> SessionConfig {
    SessionConfig::normal(INITIATOR, TARGET).with_random([7; 24])
}

#[test]
fn walks_every_lun_and_reports_sizes_then_logs_out() {
    let mut t = FakeTarget::new();
    t.data_in_chunk = 8;
    t.status_in_data_in = false;
    let events = drive(normal(), &mut t, 4096);
    assert!(matches!(events[0], Event::LoggedIn { tsih: 0x1234 }));
    assert_eq!(events.last(), Some(&Event::LoggedOut));
    let r = report(&events);
    assert_eq!(r.alias.as_deref(), Some("fake"));
    let got: Vec<_> = r
        .luns
        .iter()
        .map(|l| (l.number(), l.size_bytes(), l.state()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(0), None, LunState::NoCapacity),
            (Some(1), Some(32 << 20), LunState::Ready),
            (Some(2), Some(1 << 30), LunState::Ready),
            (Some(3), Some(1 << 30), LunState::Ready),
        ]
    );
    assert_eq!(r.luns[3].block_size(), Some(4096));
    assert_eq!(
        (r.luns[1].vendor.as_str(), r.luns[1].product.as_str()),
        ("FAKE", "DISK")
    );
}

#[test]
fn byte_by_byte_input_gives_the_same_report() {
    let whole = drive(normal(), &mut FakeTarget::new(), usize::MAX);
    let bytewise = drive(normal(), &mut FakeTarget::new(), 1);
    assert_eq!(report(&whole), report(&bytewise));
}

#[test]
fn retries_a_command_after_unit_attention() {
    let mut t = FakeTarget::new();
    t.unit_attention.insert(2);
    let events = drive(normal(), &mut t, 4096);
    assert_eq!(report(&events).luns[2].size_bytes(), Some(1 << 30));
    let rc16_on_2 = t.commands.iter().filter(|c| **c == (2, 0x9e)).count();
    assert_eq!(rc16_on_2, 2, "one UNIT ATTENTION, one retry");
}

#[test]
fn unit_attention_with_no_retries_left_marks_only_that_lun() {
    let mut t = FakeTarget::new();
    t.unit_attention.insert(1);
    let mut cfg = normal();
    cfg.unit_attention_retries = 0;
    let events = drive(cfg, &mut t, 4096);
    let r = report(&events);
    assert_eq!(r.luns[1].state(), LunState::Error);
    assert!(matches!(
        r.luns[1].error,
        Some(LunError::Check { sense, .. }) if sense.key == SenseKey::UNIT_ATTENTION
    ));
    assert_eq!(r.luns[2].state(), LunState::Ready);
}

#[test]
fn falls_back_to_read_capacity_10_when_16_is_an_illegal_request() {
    let mut t = FakeTarget::new();
    t.no_rc16 = true;
    let events = drive(normal(), &mut t, 4096);
    let r = report(&events);
    assert_eq!(r.luns[1].size_bytes(), Some(32 << 20));
    assert!(t.commands.contains(&(1, 0x25)));
}

#[test]
fn answers_a_target_ping_and_carries_on() {
    let mut t = FakeTarget::new();
    t.ping_before_commands = true;
    let events = drive(normal(), &mut t, 4096);
    assert!(t.ping_answered);
    assert_eq!(report(&events).luns.len(), 4);
}

#[test]
fn chap_login_with_the_right_secret_succeeds() {
    let mut t = FakeTarget::new();
    t.chap = Some(("user".into(), b"secret-123456".to_vec()));
    let cfg = normal().with_auth(Auth::chap("user", "secret-123456"));
    let events = drive(cfg, &mut t, 4096);
    assert_eq!(report(&events).luns.len(), 4);
}

#[test]
fn chap_login_with_a_wrong_secret_is_an_auth_error() {
    let mut t = FakeTarget::new();
    t.chap = Some(("user".into(), b"secret-123456".to_vec()));
    let cfg = normal().with_auth(Auth::chap("user", "wrong"));
    let events = drive(cfg, &mut t, 4096);
    assert_eq!(
        failure(&events),
        &SessionError::Auth(AuthError::Rejected {
            status: LoginStatus::AUTHENTICATION_FAILURE
        })
    );
}

#[test]
fn one_way_chap_credentials_still_read_a_target_that_picks_none() {
    // The probe offers "CHAP,None"; a target without accounts picks None.
    let mut t = FakeTarget::new();
    let cfg = normal().with_auth(Auth::chap("user", "secret-123456"));
    let events = drive(cfg, &mut t, 4096);
    assert_eq!(report(&events).luns.len(), 4);
}

#[test]
fn mutual_chap_never_accepts_a_target_that_picks_none() {
    let mut t = FakeTarget::new();
    let cfg = normal().with_auth(Auth::Chap {
        initiator: iscsi_probe::ChapCredentials::new("user", "secret-123456"),
        target: Some(iscsi_probe::ChapCredentials::new("tgt", "target-secret-1")),
    });
    let events = drive(cfg, &mut t, 4096);
    assert!(
        matches!(
            failure(&events),
            SessionError::Auth(AuthError::MethodRefused { .. })
        ),
        "{:?}",
        failure(&events)
    );
}

#[test]
fn no_auth_against_a_chap_target_is_an_auth_error() {
    let mut t = FakeTarget::new();
    t.chap = Some(("user".into(), b"secret-123456".to_vec()));
    let events = drive(normal(), &mut t, 4096);
    assert!(matches!(failure(&events), SessionError::Auth(_)));
}

#[test]
fn mutual_chap_accepts_the_right_target_and_refuses_an_impostor() {
    let mut t = FakeTarget::new();
    t.chap = Some(("user".into(), b"secret-123456".to_vec()));
    t.mutual = Some(("tgt".into(), b"target-secret-1".to_vec()));
    let me = ChapCredentials::new("user", "secret-123456");
    let cfg = normal().with_auth(Auth::mutual_chap(
        me.clone(),
        ChapCredentials::new("tgt", "target-secret-1"),
    ));
    assert_eq!(report(&drive(cfg, &mut t, 4096)).luns.len(), 4);

    let mut t2 = FakeTarget::new();
    t2.chap = t.chap.clone();
    t2.mutual = Some(("tgt".into(), b"impostor".to_vec()));
    let cfg = normal().with_auth(Auth::mutual_chap(
        me,
        ChapCredentials::new("tgt", "target-secret-1"),
    ));
    assert_eq!(
        failure(&drive(cfg, &mut t2, 4096)),
        &SessionError::Auth(AuthError::MutualFailed)
    );
}

#[test]
fn unknown_target_name_is_target_not_found() {
    let cfg = SessionConfig::normal(INITIATOR, "iqn.2026-01.test:nope");
    let events = drive(cfg, &mut FakeTarget::new(), 4096);
    assert_eq!(failure(&events), &SessionError::TargetNotFound);
}

#[test]
fn other_login_statuses_are_typed() {
    let mut t = FakeTarget::new();
    t.login_status = LoginStatus::SERVICE_UNAVAILABLE;
    let events = drive(normal(), &mut t, 4096);
    assert_eq!(
        failure(&events),
        &SessionError::LoginRejected {
            status: LoginStatus::SERVICE_UNAVAILABLE
        }
    );
}

#[test]
fn discovery_follows_continued_text_and_lists_all_targets() {
    let mut t = FakeTarget::new();
    t.split_text = true;
    t.targets = (0..20).map(|i| format!("iqn.2026-01.test:t{i}")).collect();
    let events = drive(SessionConfig::discovery(INITIATOR), &mut t, 4096);
    let targets = events
        .iter()
        .find_map(|e| {
            if let Event::Targets(t) = e {
                Some(t)
            } else {
                None
            }
        })
        .unwrap();
    let names: Vec<_> = targets.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, t.targets);
    assert!(
        targets
            .iter()
            .all(|t| t.addresses.len() == 1 && t.addresses[0].tpgt == Some(1))
    );
}

#[test]
fn a_silent_target_times_out_in_the_phase_it_was_in() {
    let now = Instant::now();
    let mut cfg = normal();
    cfg.response_timeout = Duration::from_secs(3);
    let mut s = Session::new(cfg, now).unwrap();
    assert!(s.poll_transmit().is_some());
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(3)));
    s.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(
        s.poll_event(),
        Some(Event::Failed(SessionError::Timeout {
            phase: Phase::Login
        }))
    );
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn connection_closed_mid_login_is_a_protocol_error() {
    let mut s = Session::new(normal(), Instant::now()).unwrap();
    s.handle_close();
    assert_eq!(
        s.poll_event(),
        Some(Event::Failed(SessionError::Protocol(
            ProtocolError::ConnectionClosed {
                phase: "logging in"
            }
        )))
    );
}

#[test]
fn oversized_data_segment_is_refused_before_buffering() {
    let mut s = Session::new(normal(), Instant::now()).unwrap();
    let mut bhs = [0u8; 48];
    bhs[0] = 0x23;
    bhs[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    s.handle_input(Instant::now(), &bhs);
    assert_eq!(
        s.poll_event(),
        Some(Event::Failed(SessionError::Decode(
            DecodeError::DataSegmentTooLong {
                declared: 0x00ff_ffff,
                limit: 65536
            }
        )))
    );
}

/// Logs in against the fake target and returns the session waiting for REPORT LUNS data.
fn logged_in() -> (Session, FakeTarget, u32) {
    let now = Instant::now();
    let mut t = FakeTarget::new();
    let mut s = Session::new(normal(), now).unwrap();
    loop {
        let wire = s.poll_transmit().unwrap();
        let pdu = Pdu::new_checked(&wire).unwrap();
        if let Message::ScsiCommand(c) = Message::from_pdu(pdu) {
            return (s, t, c.itt);
        }
        for r in t.handle(pdu) {
            s.handle_input(now, &r);
        }
    }
}

fn data_in(itt: u32, data_sn: u32, offset: u32, data: &[u8]) -> Vec<u8> {
    enc(&Message::DataIn(DataIn {
        final_: false,
        ack: false,
        residual_flags: ResidualFlags::empty(),
        status: None,
        lun: [0; 8],
        itt,
        ttt: RESERVED_TAG,
        stat_sn: 0,
        exp_cmd_sn: 0,
        max_cmd_sn: 0,
        data_sn,
        buffer_offset: offset,
        residual: 0,
        data,
    }))
}

fn last_failure(s: &mut Session) -> Option<SessionError> {
    let mut f = None;
    while let Some(e) = s.poll_event() {
        if let Event::Failed(e) = e {
            f = Some(e);
        }
    }
    f
}

#[test]
fn data_in_for_an_unknown_task_is_a_protocol_error() {
    let (mut s, _, itt) = logged_in();
    s.handle_input(Instant::now(), &data_in(itt + 99, 0, 0, &[0; 8]));
    assert!(matches!(
        last_failure(&mut s),
        Some(SessionError::Protocol(ProtocolError::UnknownTaskTag { .. }))
    ));
}

#[test]
fn data_in_out_of_order_is_a_protocol_error() {
    let (mut s, _, itt) = logged_in();
    s.handle_input(Instant::now(), &data_in(itt, 1, 0, &[0; 8]));
    assert_eq!(
        last_failure(&mut s),
        Some(SessionError::Protocol(ProtocolError::DataOutOfOrder {
            what: "DataSN",
            got: 1,
            expected: 0
        }))
    );
}

#[test]
fn data_in_past_the_expected_length_is_a_protocol_error() {
    let (mut s, _, itt) = logged_in();
    let big = vec![0u8; 4000];
    s.handle_input(Instant::now(), &data_in(itt, 0, 0, &big));
    assert!(matches!(
        last_failure(&mut s),
        Some(SessionError::Protocol(ProtocolError::DataOverflow {
            got: 4000,
            ..
        }))
    ));
}

#[test]
fn secrets_do_not_appear_in_session_debug_output() {
    let cfg = normal().with_auth(Auth::chap("user", "hunter2-secret"));
    let s = Session::new(cfg.clone(), Instant::now()).unwrap();
    let dbg = format!("{s:?} {cfg:?}");
    assert!(!dbg.contains("hunter2-secret"));
}

#[test]
fn cmd_sn_advances_per_command_and_exp_stat_sn_follows_the_target() {
    let mut t = FakeTarget::new();
    let mut cfg = normal();
    cfg.initial_cmd_sn = 500;
    let events = drive(cfg, &mut t, 4096);
    assert_eq!(report(&events).luns.len(), 4);
    // Login requests: immediate, CmdSN fixed at the initial value.
    let logins: Vec<_> = t.seen.iter().filter(|p| p.0 == 0x03).collect();
    assert!(logins.iter().all(|p| p.1 && p.2 == 500), "{logins:?}");
    // SCSI commands: not immediate, CmdSN 500, 501, ... in order.
    let cmds: Vec<_> = t.seen.iter().filter(|p| p.0 == 0x01).collect();
    assert_eq!(
        cmds.len(),
        1 + 4 + 3,
        "REPORT LUNS, 4 INQUIRY, 3 READ CAPACITY"
    );
    for (i, c) in cmds.iter().enumerate() {
        assert!(!c.1);
        assert_eq!(c.2, 500 + u32::try_from(i).unwrap());
    }
    // Logout: immediate, carries the next CmdSN without consuming it, and acknowledges every
    // status so far (ExpStatSN = last StatSN + 1).
    let logout = t.seen.iter().find(|p| p.0 == 0x06).unwrap();
    assert!(logout.1);
    assert_eq!(logout.2, 500 + 8);
    // The Logout Response got the StatSN the Logout Request said it expected.
    assert_eq!(logout.3, t.last_stat_sn);
    // Every request acknowledges the StatSN of the response before it.
    let mut prev = 0;
    for p in &t.seen {
        assert!(p.3 >= prev, "ExpStatSN went backwards: {:?}", t.seen);
        prev = p.3;
    }
}

#[test]
fn waits_for_a_closed_command_window_to_open() {
    let mut t = FakeTarget::new();
    t.close_window = true;
    let events = drive(normal(), &mut t, 4096);
    assert_eq!(report(&events).luns.len(), 4);
}

#[test]
fn a_command_window_that_never_opens_times_out() {
    let now = Instant::now();
    let mut t = FakeTarget::new();
    t.close_window = true;
    t.open_after = false;
    let mut cfg = normal();
    cfg.response_timeout = Duration::from_secs(5);
    let mut s = Session::new(cfg, now).unwrap();
    while let Some(wire) = s.poll_transmit() {
        for r in t.handle(Pdu::new_checked(&wire).unwrap()) {
            s.handle_input(now, &r);
        }
    }
    assert!(!s.is_closed());
    let deadline = s.poll_timeout().unwrap();
    s.handle_timeout(deadline);
    assert_eq!(
        last_failure(&mut s),
        Some(SessionError::Timeout {
            phase: Phase::CommandWindow
        })
    );
}
