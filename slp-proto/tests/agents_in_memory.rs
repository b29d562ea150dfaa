//! The user agent against service agents in memory, with a manual clock and knobs that
//! drop or duplicate datagrams.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use slp_proto::agent::{Destination, Timing, Via};
use slp_proto::sa::{Registration, SaConfig, SaEvent, ServiceAgent};
use slp_proto::ua::{UaConfig, UaEvent, UserAgent};
use slp_proto::{Body, ErrorCode, Flags, Header, Message, SrvAck, StringList};

fn addr(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), 427)
}

fn timing() -> Timing {
    Timing {
        retry: Duration::from_millis(500),
        mc_max: Duration::from_secs(15),
        retry_max: Duration::from_secs(4),
    }
}

fn sa(
    last: u8,
    now: Instant,
    scopes: &[&str],
    regs: &[Registration],
) -> (SocketAddr, ServiceAgent) {
    let mut cfg = SaConfig::new(addr(last).ip());
    cfg.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    let mut sa = ServiceAgent::new(cfg, now, u16::from(last) * 1000);
    for r in regs {
        sa.register(now, r.clone()).unwrap();
    }
    (addr(last), sa)
}

fn isns(last: u8, prio: i32) -> Registration {
    Registration::isns_server(SocketAddr::new(addr(last).ip(), 3205), Some(prio), 600)
}

#[derive(Default)]
struct Knobs {
    /// Drop the n-th datagram (0-based, counting both directions) when it is listed.
    drop: Vec<usize>,
    /// Deliver every datagram twice.
    duplicate: bool,
}

struct Net {
    sas: Vec<(SocketAddr, ServiceAgent)>,
    knobs: Knobs,
    sent: usize,
    multicast_sends: usize,
    replies_by_sa: Vec<usize>,
    tcp_requests: usize,
    xids: Vec<(Destination, u16)>,
}

impl Net {
    fn new(sas: Vec<(SocketAddr, ServiceAgent)>, knobs: Knobs) -> Self {
        let n = sas.len();
        Net {
            sas,
            knobs,
            sent: 0,
            multicast_sends: 0,
            replies_by_sa: vec![0; n],
            tcp_requests: 0,
            xids: Vec::new(),
        }
    }

    fn lost(&mut self, tcp: bool) -> bool {
        let n = self.sent;
        self.sent += 1;
        !tcp && self.knobs.drop.contains(&n)
    }

    /// Runs the user agent to completion; returns the time it finished.
    fn run(&mut self, ua: &mut UserAgent, mut now: Instant) -> Instant {
        let ua_addr = SocketAddr::from(([10, 0, 0, 200], 50000));
        for _ in 0..10_000 {
            while let Some(t) = ua.poll_transmit() {
                self.xids.push((
                    t.destination,
                    Message::parse(&t.payload).unwrap().header.xid,
                ));
                let copies = if self.knobs.duplicate { 2 } else { 1 };
                let targets: Vec<(usize, Via)> = match t.destination {
                    Destination::Multicast => {
                        self.multicast_sends += 1;
                        (0..self.sas.len()).map(|i| (i, Via::Multicast)).collect()
                    }
                    Destination::Unicast(a) => self
                        .sas
                        .iter()
                        .position(|s| s.0 == a)
                        .map(|i| (i, Via::Unicast))
                        .into_iter()
                        .collect(),
                    Destination::Tcp(a) => {
                        self.tcp_requests += 1;
                        self.sas
                            .iter()
                            .position(|s| s.0 == a)
                            .map(|i| (i, Via::Tcp))
                            .into_iter()
                            .collect()
                    }
                };
                for (i, via) in targets {
                    for _ in 0..copies {
                        if self.lost(via == Via::Tcp) {
                            continue;
                        }
                        let (sa_addr, sa) = &mut self.sas[i];
                        let sa_addr = *sa_addr;
                        if let Some(reply) = sa.handle_input(now, ua_addr, &t.payload, via) {
                            self.replies_by_sa[i] += 1;
                            let back = if via == Via::Tcp {
                                Via::Tcp
                            } else {
                                Via::Unicast
                            };
                            for _ in 0..copies {
                                if !self.lost(via == Via::Tcp) {
                                    ua.handle_input(now, sa_addr, &reply, back);
                                }
                            }
                        }
                    }
                }
            }
            if ua.is_finished() {
                return now;
            }
            now = ua
                .poll_timeout()
                .expect("an unfinished user agent has a timer");
            ua.handle_timeout(now);
        }
        panic!("user agent did not finish");
    }
}

fn ua_cfg() -> UaConfig {
    UaConfig {
        timing: timing(),
        ..UaConfig::isns()
    }
}

#[test]
fn finds_isns_servers_from_three_sas_ordered_by_priority() {
    let t0 = Instant::now();
    let other = Registration {
        url: "service:iscsi:sms://10.0.0.9:9999".into(),
        service_type: "service:iscsi:sms".into(),
        attrs: "(protocols=snmp)".into(),
        lifetime: 600,
    };
    let mut net = Net::new(
        vec![
            sa(1, t0, &["DEFAULT"], &[isns(1, 2), other]),
            sa(2, t0, &["DEFAULT"], &[isns(2, 0)]),
            sa(3, t0, &["DEFAULT"], &[isns(3, 1)]),
        ],
        Knobs::default(),
    );
    let mut ua = UserAgent::new(ua_cfg(), t0, 7).unwrap();
    let end = net.run(&mut ua, t0);
    let r = ua.results(end);
    let urls: Vec<&str> = r.iter().map(|d| d.url.as_str()).collect();
    assert_eq!(
        urls,
        [
            "service:iscsi:sms://10.0.0.2:3205",
            "service:iscsi:sms://10.0.0.3:3205",
            "service:iscsi:sms://10.0.0.1:3205"
        ]
    );
    assert_eq!(r[0].priority, Some(0));
    assert_eq!(r[0].socket_addr(), Some("10.0.0.2:3205".parse().unwrap()));
    assert_eq!(r[0].lifetime, 600);
    assert_eq!(r[0].scope, "DEFAULT");
}

#[test]
fn answered_sas_stay_silent_once_in_the_previous_responder_list() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![
            sa(1, t0, &["DEFAULT"], &[isns(1, 0)]),
            sa(2, t0, &["DEFAULT"], &[isns(2, 1)]),
        ],
        Knobs::default(),
    );
    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    // Round 1 gets both answers; round 2 (PRList=both) is silent, which ends convergence.
    assert_eq!(net.multicast_sends, 2);
    assert_eq!(net.replies_by_sa, [1, 1]);
    // Silence after the first retransmission: t0 + retry + 2*retry.
    assert_eq!(end - t0, Duration::from_millis(1500));
    assert_eq!(ua.results(end).len(), 2);
}

#[test]
fn waits_double_between_retransmissions_and_stop_on_silence_with_no_responders() {
    let t0 = Instant::now();
    let mut net = Net::new(vec![], Knobs::default());
    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.fetch_attributes = false;
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    assert_eq!(net.multicast_sends, 2);
    assert_eq!(end - t0, Duration::from_millis(1500));
    assert!(ua.results(end).is_empty());
}

#[test]
fn convergence_is_capped_by_config_mc_max() {
    // A new responder in every round would keep convergence going; CONFIG_MC_MAX ends it.
    let t0 = Instant::now();
    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.timing.mc_max = Duration::from_millis(2000);
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let mut now = t0;
    let mut sends = 0u8;
    while !ua.is_finished() {
        while let Some(t) = ua.poll_transmit() {
            assert_eq!(t.destination, Destination::Multicast);
            sends += 1;
            let (a, mut s) = sa(sends, now, &["DEFAULT"], &[isns(sends, 0)]);
            let reply = s
                .handle_input(now, addr(200), &t.payload, Via::Multicast)
                .unwrap();
            ua.handle_input(now, a, &reply, Via::Unicast);
        }
        if ua.is_finished() {
            break;
        }
        now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
    }
    // Sends at 0, 0.5, 1.5 s; the next would be at 3.5 s > CONFIG_MC_MAX, so convergence
    // ends at CONFIG_MC_MAX itself rather than waiting for that retransmission slot.
    assert_eq!(sends, 3);
    assert_eq!(now - t0, Duration::from_millis(2000));
}

#[test]
fn a_dropped_first_request_is_recovered_by_retransmission() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![sa(1, t0, &["DEFAULT"], &[isns(1, 0)])],
        Knobs {
            drop: vec![0],
            ..Knobs::default()
        },
    );
    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    assert_eq!(ua.results(end).len(), 1);
    assert_eq!(net.multicast_sends, 3);
}

#[test]
fn duplicated_datagrams_give_one_result_per_url() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![
            sa(1, t0, &["DEFAULT"], &[isns(1, 0)]),
            sa(2, t0, &["DEFAULT"], &[isns(1, 0)]),
        ],
        Knobs {
            duplicate: true,
            ..Knobs::default()
        },
    );
    let mut ua = UserAgent::new(ua_cfg(), t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    let r = ua.results(end);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].url, "service:iscsi:sms://10.0.0.1:3205");
}

#[test]
fn finds_open_isns_registration_in_its_literal_scope_only_when_configured() {
    let t0 = Instant::now();
    let mk = || {
        Net::new(
            vec![sa(1, t0, &["initiator-scope-list"], &[isns(1, 0)])],
            Knobs::default(),
        )
    };
    let mut ua = UserAgent::new(ua_cfg(), t0, 1).unwrap();
    let end = mk().run(&mut ua, t0);
    assert_eq!(ua.results(end).len(), 1);
    assert_eq!(ua.results(end)[0].scope, "initiator-scope-list");

    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = mk().run(&mut ua, t0);
    assert!(ua.results(end).is_empty());
}

#[test]
fn an_overflowing_reply_is_retried_over_tcp() {
    let t0 = Instant::now();
    let regs: Vec<Registration> = (0..60u16)
        .map(|i| Registration {
            url: format!("service:iscsi:sms://10.0.1.{}:{}", i % 250, 3205 + i),
            service_type: "service:iscsi:sms".into(),
            attrs: format!("(protocols=isns),(server-priority={i})"),
            lifetime: 300,
        })
        .collect();
    let mut net = Net::new(vec![sa(1, t0, &["DEFAULT"], &regs)], Knobs::default());
    let mut cfg = ua_cfg();
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    assert_eq!(net.tcp_requests, 1);
    // RFC 2608 §6.1: the TCP retry carries the XID of the request that overflowed.
    let mcast_xid = net
        .xids
        .iter()
        .find(|(d, _)| *d == Destination::Multicast)
        .unwrap()
        .1;
    let tcp_xid = net
        .xids
        .iter()
        .find(|(d, _)| matches!(d, Destination::Tcp(_)))
        .unwrap()
        .1;
    assert_eq!(tcp_xid, mcast_xid);
    let r = ua.results(end);
    assert_eq!(r.len(), 60);
    assert!(r.windows(2).all(|w| w[0].priority < w[1].priority));
}

#[test]
fn attributes_are_fetched_by_attr_rqst_when_the_extension_is_not_used() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![sa(1, t0, &["DEFAULT"], &[isns(1, 5)])],
        Knobs::default(),
    );
    let mut cfg = ua_cfg();
    cfg.attr_list_extension = false;
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    let r = ua.results(end);
    assert_eq!(r[0].priority, Some(5));
    assert_eq!(
        r[0].attrs.as_deref(),
        Some("(protocols=isns),(server-priority=5)")
    );
}

#[test]
fn results_expire_with_their_lifetime() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![sa(1, t0, &["DEFAULT"], &[isns(1, 0)])],
        Knobs::default(),
    );
    let mut ua = UserAgent::new(ua_cfg(), t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    assert_eq!(ua.results(end).len(), 1);
    assert!(ua.results(end + Duration::from_secs(601)).is_empty());
}

#[test]
fn unicast_to_a_directory_agent_retransmits_with_doubling_then_gives_up() {
    let t0 = Instant::now();
    let da = addr(50);
    let mut cfg = ua_cfg();
    cfg.multicast = false;
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.directory_agents = vec![da];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let mut sends = Vec::new();
    let mut now = t0;
    while !ua.is_finished() {
        while let Some(t) = ua.poll_transmit() {
            assert_eq!(t.destination, Destination::Unicast(da));
            sends.push(now - t0);
        }
        now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
    }
    let ms: Vec<u128> = sends.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 500, 1500, 3500]);
    let events: Vec<UaEvent> = std::iter::from_fn(|| ua.poll_event()).collect();
    assert!(events.contains(&UaEvent::Unanswered(da)), "{events:?}");
}

#[test]
fn unicast_to_a_directory_agent_finds_its_urls() {
    let t0 = Instant::now();
    let mut net = Net::new(
        vec![sa(50, t0, &["DEFAULT"], &[isns(7, 0)])],
        Knobs {
            drop: vec![0],
            ..Knobs::default()
        },
    );
    let mut cfg = ua_cfg();
    cfg.multicast = false;
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.directory_agents = vec![addr(50)];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let end = net.run(&mut ua, t0);
    assert_eq!(net.multicast_sends, 0);
    assert_eq!(ua.results(end)[0].url, "service:iscsi:sms://10.0.0.7:3205");
}

#[test]
fn service_agent_registers_with_a_directory_agent_it_hears_of_and_refreshes() {
    let t0 = Instant::now();
    let (_, mut s) = sa(1, t0, &["DEFAULT"], &[isns(1, 0)]);
    let da = addr(50);
    // An unsolicited DAAdvert (XID 0).
    let adv = Message::new(
        Header::new(0, "en"),
        Body::DaAdvert(slp_proto::DaAdvert {
            boot_timestamp: 1_700_000_000,
            url: "service:directory-agent://10.0.0.50",
            scopes: StringList("DEFAULT"),
            ..Default::default()
        }),
    )
    .to_vec()
    .unwrap();
    assert_eq!(s.handle_input(t0, da, &adv, Via::Multicast), None);
    let t = s.poll_transmit().expect("a SrvReg to the DA");
    assert_eq!(t.destination, Destination::Unicast(da));
    let m = Message::parse(&t.payload).unwrap();
    assert!(m.header.flags.contains(Flags::FRESH));
    let Body::SrvReg(reg) = m.body else {
        panic!("expected SrvReg, got {m:?}")
    };
    assert_eq!(reg.url.url, "service:iscsi:sms://10.0.0.1:3205");
    assert_eq!(reg.url.lifetime, 600);
    assert_eq!(reg.attrs, "(protocols=isns),(server-priority=0)");
    // Unacknowledged: retransmitted after CONFIG_RETRY (2 s by default).
    s.handle_timeout(t0 + Duration::from_millis(1999));
    assert!(s.poll_transmit().is_none());
    s.handle_timeout(t0 + Duration::from_secs(2));
    let again = s.poll_transmit().expect("a retransmission");
    assert_eq!(again.payload, t.payload);
    let ack = Message::new(
        Header::new(m.header.xid, "en"),
        Body::SrvAck(SrvAck {
            error: ErrorCode::OK,
        }),
    )
    .to_vec()
    .unwrap();
    s.handle_input(t0 + Duration::from_millis(2100), da, &ack, Via::Unicast);
    let events: Vec<SaEvent> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&SaEvent::Registered {
        da,
        url: reg.url.url.to_owned(),
        error: ErrorCode::OK
    }));
    // Refresh at 3/4 of the 600 s lifetime.
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_millis(2100) + Duration::from_secs(450))
    );
    s.handle_timeout(t0 + Duration::from_secs(453));
    assert!(s.poll_transmit().is_some());
}

#[test]
fn directory_agents_found_by_multicast_are_asked_by_unicast() {
    let t0 = Instant::now();
    let mut cfg = ua_cfg();
    cfg.multicast = false;
    cfg.discover_das = true;
    cfg.scopes = vec!["DEFAULT".into()];
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let t = ua.poll_transmit().unwrap();
    assert_eq!(t.destination, Destination::Multicast);
    let m = Message::parse(&t.payload).unwrap();
    let Body::SrvRqst(r) = m.body else { panic!() };
    assert_eq!(r.service_type, "service:directory-agent");
    let da = addr(50);
    let adv = Message::new(
        Header::new(m.header.xid, "en"),
        Body::DaAdvert(slp_proto::DaAdvert {
            boot_timestamp: 1,
            url: "service:directory-agent://10.0.0.50",
            scopes: StringList("DEFAULT"),
            ..Default::default()
        }),
    )
    .to_vec()
    .unwrap();
    ua.handle_input(t0, da, &adv, Via::Unicast);
    assert_eq!(ua.directory_agents(), [da]);
    let q = ua.poll_transmit().unwrap();
    assert_eq!(q.destination, Destination::Unicast(da));
    // The DA (an SA here) answers; the registration shows up in the result.
    let (_, mut dir) = sa(50, t0, &["DEFAULT"], &[isns(9, 0)]);
    let reply = dir
        .handle_input(t0, addr(200), &q.payload, Via::Unicast)
        .unwrap();
    ua.handle_input(t0, da, &reply, Via::Unicast);
    let mut now = t0;
    while !ua.is_finished() {
        while ua.poll_transmit().is_some() {}
        now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
    }
    assert_eq!(ua.results(now)[0].url, "service:iscsi:sms://10.0.0.9:3205");
    let events: Vec<UaEvent> = std::iter::from_fn(|| ua.poll_event()).collect();
    assert!(events.contains(&UaEvent::DirectoryAgent(da)));
}

fn ask(s: &mut ServiceAgent, body: Body<'_>, via: Via) -> Option<Vec<u8>> {
    let rq = Message::new(Header::new(77, "en"), body).to_vec().unwrap();
    s.handle_input(Instant::now(), addr(200), &rq, via)
}

#[test]
fn service_agent_answers_sa_discovery_type_requests_and_scope_errors() {
    let t0 = Instant::now();
    let (_, mut s) = sa(1, t0, &["DEFAULT"], &[isns(1, 0)]);
    let r = ask(
        &mut s,
        Body::SrvRqst(slp_proto::SrvRqst {
            service_type: "service:service-agent",
            ..Default::default()
        }),
        Via::Multicast,
    )
    .unwrap();
    let Body::SaAdvert(a) = Message::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!(
        (a.url, a.scopes.as_str()),
        ("service:service-agent://10.0.0.1", "DEFAULT")
    );

    let r = ask(
        &mut s,
        Body::SrvTypeRqst(slp_proto::SrvTypeRqst {
            scopes: StringList("default"),
            ..Default::default()
        }),
        Via::Unicast,
    )
    .unwrap();
    let Body::SrvTypeRply(t) = Message::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!(t.types.as_str(), "service:iscsi:sms");

    let other_scope = slp_proto::SrvRqst {
        service_type: "service:iscsi:sms",
        scopes: StringList("nowhere"),
        ..Default::default()
    };
    assert_eq!(
        ask(&mut s, Body::SrvRqst(other_scope), Via::Multicast),
        None
    );
    let r = ask(&mut s, Body::SrvRqst(other_scope), Via::Unicast).unwrap();
    let Body::SrvRply(e) = Message::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!(e.error, ErrorCode::SCOPE_NOT_SUPPORTED);

    // Abstract type, case-insensitive scope, no match by predicate: empty unicast reply.
    let miss = slp_proto::SrvRqst {
        service_type: "service:iscsi",
        scopes: StringList("DEFAULT"),
        predicate: "(protocols=snmp)",
        ..Default::default()
    };
    let r = ask(&mut s, Body::SrvRqst(miss), Via::Unicast).unwrap();
    let Body::SrvRply(e) = Message::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!((e.error, e.urls.len()), (ErrorCode::OK, 0));
    assert_eq!(ask(&mut s, Body::SrvRqst(miss), Via::Multicast), None);

    // A PRList naming this SA silences it.
    let listed = slp_proto::SrvRqst {
        pr_list: StringList("10.0.0.7,10.0.0.1"),
        service_type: "service:iscsi:sms",
        scopes: StringList("DEFAULT"),
        ..Default::default()
    };
    assert_eq!(ask(&mut s, Body::SrvRqst(listed), Via::Multicast), None);

    // An unknown mandatory extension in a unicast request: OPTION_NOT_UNDERSTOOD.
    let ext = [slp_proto::Extension {
        id: slp_proto::ExtensionId(0x4999),
        data: b"",
    }];
    let mut m = Message::new(
        Header::new(5, "en"),
        Body::SrvRqst(slp_proto::SrvRqst {
            service_type: "service:iscsi:sms",
            scopes: StringList("DEFAULT"),
            ..Default::default()
        }),
    );
    m.extensions = slp_proto::Extensions::List(&ext);
    let r = s
        .handle_input(t0, addr(200), &m.to_vec().unwrap(), Via::Unicast)
        .unwrap();
    let Body::SrvRply(e) = Message::parse(&r).unwrap().body else {
        panic!()
    };
    assert_eq!(e.error, ErrorCode::OPTION_NOT_UNDERSTOOD);
}

#[test]
fn an_unanswered_unicast_request_gives_up_at_config_retry_max_not_at_the_next_retransmission() {
    let t0 = Instant::now();
    let da = addr(50);
    let mut cfg = ua_cfg();
    cfg.multicast = false;
    cfg.scopes = vec!["DEFAULT".into()];
    cfg.directory_agents = vec![da];
    // Retransmissions at 0, 0.5, 1.5 and 3.5 s; the next would be 7.5 s, past the bound.
    cfg.timing.retry_max = Duration::from_secs(5);
    let mut ua = UserAgent::new(cfg, t0, 1).unwrap();
    let mut now = t0;
    while !ua.is_finished() {
        while ua.poll_transmit().is_some() {}
        now = ua.poll_timeout().unwrap();
        ua.handle_timeout(now);
    }
    assert_eq!(now - t0, Duration::from_secs(5));
}
