//! The sans-IO client and responder driven against each other in memory, with a manual
//! clock and drop/duplicate/tamper knobs.

use std::time::{Duration, Instant};

use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, Response, chassis};
use ipmi_iscsi::rmcp::{
    AuthFailure, CipherSuite, ClientConfig, ClientSession, Event, Password, Privilege, RakpStatus,
    RandomSource, Rejected, Responder, ResponderConfig, RetryPolicy, SessionError, User,
};

/// Deterministic xorshift bytes: reproducible sessions.
fn rng(seed: u64) -> RandomSource {
    let mut s = seed | 1;
    Box::new(move |buf: &mut [u8]| {
        for b in buf {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *b = s.to_le_bytes()[3];
        }
    })
}

fn pw(s: &str) -> Password {
    Password::new(s).unwrap()
}

fn bmc(suites: &[CipherSuite]) -> Responder {
    let mut cfg = ResponderConfig::new([0x5a; 16], "admin", pw("password"));
    cfg.suites = suites.to_vec();
    cfg.users.push(User {
        name: b"viewer".to_vec(),
        password: pw("viewerpass"),
        max_privilege: Privilege::USER,
    });
    Responder::new(cfg, rng(99))
}

/// Echoes the request data back with completion code 0 (a stand-in boot-options store).
fn echo(incoming: &ipmi_iscsi::rmcp::Incoming<'_>) -> Response {
    Response::ok(incoming.request.data.clone())
}

/// Pumps datagrams both ways until quiet, recording events and client rejections.
struct Net {
    now: Instant,
    client: ClientSession,
    bmc: Responder,
    /// Drop this many client→BMC datagrams first.
    drop_to_bmc: usize,
    /// Deliver every BMC→client datagram twice.
    duplicate_to_client: bool,
    rejected: Vec<Rejected>,
    events: Vec<Event>,
    sent_to_bmc: Vec<Vec<u8>>,
}

impl Net {
    fn new(client_cfg: ClientConfig, bmc: Responder) -> Self {
        Net {
            now: Instant::now(),
            client: ClientSession::new(client_cfg, rng(7)),
            bmc,
            drop_to_bmc: 0,
            duplicate_to_client: false,
            rejected: Vec::new(),
            events: Vec::new(),
            sent_to_bmc: Vec::new(),
        }
    }

    fn run(&mut self) {
        for _ in 0..200 {
            let mut progressed = false;
            while let Some(d) = self.client.poll_transmit() {
                progressed = true;
                self.sent_to_bmc.push(d.clone());
                if self.drop_to_bmc > 0 {
                    self.drop_to_bmc -= 1;
                    continue;
                }
                if let Ok(Some(reply)) = self.bmc.handle_datagram(self.now, &d, echo) {
                    let copies = if self.duplicate_to_client { 2 } else { 1 };
                    for _ in 0..copies {
                        if let Err(e) = self.client.handle_input(self.now, &reply) {
                            self.rejected.push(e);
                        }
                    }
                }
            }
            while let Some(e) = self.client.poll_event() {
                progressed = true;
                self.events.push(e);
            }
            if !progressed {
                match self.client.poll_timeout() {
                    Some(t) => {
                        self.now = self.now.max(t);
                        self.client.handle_timeout(self.now);
                    }
                    None => return,
                }
            }
        }
        panic!("network did not settle");
    }

    fn connected_suite(&self) -> Option<u8> {
        self.events.iter().find_map(|e| match e {
            Event::Connected { suite } => Some(suite.id),
            _ => None,
        })
    }

    fn failure(&self) -> Option<SessionError> {
        self.events.iter().find_map(|e| match e {
            Event::Failed(err) => Some(err.clone()),
            _ => None,
        })
    }

    fn responses(&self) -> Vec<Response> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Response { response, .. } => Some(response.clone()),
                _ => None,
            })
            .collect()
    }
}

fn admin() -> ClientConfig {
    ClientConfig::new("admin", pw("password"))
}

fn get_boot_flags() -> Request {
    Request::new(NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS, [5, 0, 0])
}

#[test]
fn client_opens_suite_17_with_responder_and_runs_a_command() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17, CipherSuite::SUITE_3]));
    net.client.connect(net.now);
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    net.run();
    assert_eq!(net.connected_suite(), Some(17));
    assert_eq!(net.responses(), vec![Response::ok([5, 0, 0])]);
    assert_eq!(net.bmc.active_sessions(), 1);
    assert!(net.rejected.is_empty(), "{:?}", net.rejected);
}

#[test]
fn client_falls_back_to_suite_3_when_the_bmc_lacks_17() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_3]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(net.connected_suite(), Some(3));
    assert_eq!(net.client.cipher_suite(), Some(CipherSuite::SUITE_3));
}

#[test]
fn remembered_suite_is_tried_first() {
    let cfg = admin().prefer(CipherSuite::SUITE_3);
    assert_eq!(
        cfg.suites,
        vec![CipherSuite::SUITE_3, CipherSuite::SUITE_17]
    );
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_3]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(net.connected_suite(), Some(3));
    // Auth caps, open session, RAKP 1, RAKP 3, set privilege: no failed suite-17 attempt.
    assert_eq!(net.sent_to_bmc.len(), 5);
}

#[test]
fn wrong_password_is_an_rakp2_authentication_error() {
    let cfg = ClientConfig::new("admin", pw("wrong"));
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::Authentication(AuthFailure::Rakp2HmacMismatch))
    );
    // The client's RAKP 3 error status made the BMC drop the half-open session at once.
    assert_eq!(net.bmc.session_count(), 0);
}

#[test]
fn unknown_user_is_refused_with_unauthorized_name() {
    let cfg = ClientConfig::new("mallory", pw("password"));
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_3]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::Authentication(AuthFailure::Status {
            step: "rakp 1",
            status: RakpStatus::UNAUTHORIZED_NAME
        }))
    );
}

#[test]
fn user_cannot_log_in_above_its_privilege() {
    let cfg = ClientConfig::new("viewer", pw("viewerpass"));
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::Authentication(AuthFailure::Status {
            step: "rakp 1",
            status: RakpStatus::UNAUTHORIZED_ROLE
        }))
    );
}

#[test]
fn user_level_session_gets_insufficient_privilege_for_boot_options() {
    let mut cfg = ClientConfig::new("viewer", pw("viewerpass"));
    cfg.privilege = Privilege::USER;
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    net.run();
    assert_eq!(net.connected_suite(), Some(17));
    assert_eq!(
        net.responses(),
        vec![Response::error(CompletionCode::INSUFFICIENT_PRIVILEGE)]
    );
}

#[test]
fn client_refuses_suite_0_unless_allowed() {
    let mut cfg = admin();
    cfg.suites = vec![CipherSuite::SUITE_0];
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_0]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::NoCipherSuite { tried: vec![] })
    );
    assert!(net.sent_to_bmc.is_empty());
}

#[test]
fn responder_refuses_suite_0_unless_configured() {
    let mut cfg = admin();
    cfg.suites = vec![CipherSuite::SUITE_0];
    cfg.allow_unauthenticated = true;
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_0, CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::NoCipherSuite { tried: vec![0] })
    );
}

#[test]
fn suite_0_works_when_both_sides_allow_it() {
    let mut cfg = admin();
    cfg.suites = vec![CipherSuite::SUITE_0];
    cfg.allow_unauthenticated = true;
    let mut rcfg = ResponderConfig::new([1; 16], "admin", pw("password"));
    rcfg.suites = vec![CipherSuite::SUITE_0];
    rcfg.allow_unauthenticated = true;
    let mut net = Net::new(cfg, Responder::new(rcfg, rng(5)));
    net.client.connect(net.now);
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    net.run();
    assert_eq!(net.connected_suite(), Some(0));
    assert_eq!(net.responses().len(), 1);
}

#[test]
fn unreachable_bmc_times_out_after_the_retry_policy() {
    let mut cfg = admin();
    cfg.retry = RetryPolicy {
        timeout: Duration::from_millis(200),
        attempts: 3,
    };
    let mut net = Net::new(cfg, bmc(&[CipherSuite::SUITE_17]));
    net.drop_to_bmc = usize::MAX;
    let start = net.now;
    net.client.connect(net.now);
    net.run();
    assert_eq!(
        net.failure(),
        Some(SessionError::Timeout {
            stage: "get channel authentication capabilities",
            attempts: 3
        })
    );
    assert_eq!(net.now - start, Duration::from_millis(600));
    assert_eq!(net.sent_to_bmc.len(), 3);
}

#[test]
fn lost_datagrams_are_retransmitted() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.drop_to_bmc = 2;
    net.client.connect(net.now);
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    net.run();
    assert_eq!(net.connected_suite(), Some(17));
    assert_eq!(net.responses().len(), 1);
}

#[test]
fn duplicated_replies_are_rejected_as_replays_or_strays() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.duplicate_to_client = true;
    net.client.connect(net.now);
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    net.run();
    assert_eq!(net.responses().len(), 1);
    assert!(
        net.rejected
            .iter()
            .any(|r| matches!(r, Rejected::Replay { .. })),
        "{:?}",
        net.rejected
    );
}

/// Establishes a session, then returns a sealed response the BMC sent to a command.
fn active_pair() -> (Net, Vec<u8>) {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    let id = net.client.send_request(net.now, get_boot_flags()).unwrap();
    let out = net.client.poll_transmit().unwrap();
    let reply = net
        .bmc
        .handle_datagram(net.now, &out, echo)
        .unwrap()
        .unwrap();
    let _ = id;
    (net, reply)
}

#[test]
fn hostile_reply_with_bad_hmac_is_rejected() {
    let (mut net, mut reply) = active_pair();
    let last = reply.len() - 1;
    reply[last] ^= 0x80;
    assert_eq!(
        net.client.handle_input(net.now, &reply),
        Err(Rejected::BadAuthCode)
    );
}

#[test]
fn hostile_reply_with_wrong_session_id_is_rejected() {
    let (mut net, mut reply) = active_pair();
    reply[6] ^= 0xff;
    assert!(matches!(
        net.client.handle_input(net.now, &reply),
        Err(Rejected::WrongSessionId { .. })
    ));
}

#[test]
fn hostile_short_reply_is_a_decode_error() {
    let (mut net, reply) = active_pair();
    for n in 0..reply.len() {
        assert!(
            net.client.handle_input(net.now, &reply[..n]).is_err(),
            "prefix {n} accepted"
        );
    }
    assert_eq!(net.client.handle_input(net.now, &reply), Ok(()));
}

#[test]
fn replayed_reply_is_rejected_after_the_first() {
    let (mut net, reply) = active_pair();
    assert_eq!(net.client.handle_input(net.now, &reply), Ok(()));
    assert!(matches!(
        net.client.handle_input(net.now, &reply),
        Err(Rejected::Replay { .. })
    ));
}

#[test]
fn responder_rejects_replayed_requests() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_3]));
    net.client.connect(net.now);
    net.run();
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    let out = net.client.poll_transmit().unwrap();
    assert!(
        net.bmc
            .handle_datagram(net.now, &out, echo)
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        net.bmc.handle_datagram(net.now, &out, echo),
        Err(Rejected::Replay { .. })
    ));
}

#[test]
fn close_session_ends_both_sides() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(net.bmc.session_count(), 1);
    net.client.close(net.now);
    net.run();
    assert!(net.events.contains(&Event::Closed));
    assert!(net.client.is_finished());
    assert_eq!(net.bmc.session_count(), 0);
    assert_eq!(
        net.client.send_request(net.now, get_boot_flags()),
        Err(SessionError::Closed)
    );
}

#[test]
fn responder_bounds_concurrent_sessions() {
    let mut cfg = ResponderConfig::new([2; 16], "admin", pw("password"));
    cfg.max_sessions = 2;
    let mut bmc = Responder::new(cfg, rng(3));
    let now = Instant::now();
    let mut outcomes = Vec::new();
    for seed in 0..3 {
        let mut c = ClientSession::new(admin(), rng(100 + seed));
        c.connect(now);
        let mut guard = 0;
        while let Some(d) = c.poll_transmit() {
            if let Ok(Some(r)) = bmc.handle_datagram(now, &d, echo) {
                let _ = c.handle_input(now, &r);
            }
            guard += 1;
            assert!(guard < 20);
        }
        outcomes.push(std::iter::from_fn(|| c.poll_event()).collect::<Vec<_>>());
    }
    assert!(matches!(outcomes[0][0], Event::Connected { .. }));
    assert!(matches!(outcomes[1][0], Event::Connected { .. }));
    assert_eq!(
        outcomes[2][0],
        Event::Failed(SessionError::Authentication(AuthFailure::Status {
            step: "open session",
            status: RakpStatus::INSUFFICIENT_RESOURCES
        }))
    );
}

#[test]
fn idle_sessions_expire_with_time_passed_in() {
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    assert_eq!(net.bmc.session_count(), 1);
    let deadline = net.bmc.poll_timeout().unwrap();
    net.bmc.expire(deadline - Duration::from_millis(1));
    assert_eq!(net.bmc.session_count(), 1);
    net.bmc.expire(deadline);
    assert_eq!(net.bmc.session_count(), 0);
    // The client's next command now goes unanswered: the BMC no longer knows the session.
    net.now = deadline;
    net.client.send_request(net.now, get_boot_flags()).unwrap();
    let out = net.client.poll_transmit().unwrap();
    assert!(matches!(
        net.bmc.handle_datagram(net.now, &out, echo),
        Err(Rejected::WrongSessionId { .. })
    ));
}

#[test]
fn exchange_runs_over_a_session() {
    use ipmi_iscsi::ipmi::{Exchange, drive};
    struct TwoReads(u8, Vec<Response>);
    impl Exchange for TwoReads {
        fn poll_request(&mut self) -> Option<Request> {
            (self.0 < 2).then(|| {
                Request::new(
                    NetFn::CHASSIS,
                    chassis::GET_SYSTEM_BOOT_OPTIONS,
                    [self.0, 0, 0],
                )
            })
        }
        fn handle_response(&mut self, r: &Response) {
            self.0 += 1;
            self.1.push(r.clone());
        }
    }
    let mut net = Net::new(admin(), bmc(&[CipherSuite::SUITE_17]));
    net.client.connect(net.now);
    net.run();
    let mut ex = TwoReads(0, Vec::new());
    let sent = drive(&mut ex, |req| {
        net.client.send_request(net.now, req.clone())?;
        net.run();
        net.events
            .drain(..)
            .find_map(|e| match e {
                Event::Response { response, .. } => Some(response),
                _ => None,
            })
            .ok_or(SessionError::Closed)
    })
    .unwrap();
    assert_eq!(sent, 2);
    assert_eq!(ex.1, vec![Response::ok([0, 0, 0]), Response::ok([1, 0, 0])]);
}
