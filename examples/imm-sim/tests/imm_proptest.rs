//! Properties of imm-sim's own logic: `--bmc` expansion, the BMC core under arbitrary
//! command sequences mixed with valid pushes (saved state = store, render matches what is
//! flashed, no secret in public files, a push renders exactly what the renderer says), and
//! saved-state loading under arbitrary damage (an error or a usable store, never a panic).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use imm_sim::bmc::{BmcCore, Effect};
use imm_sim::flash::{Flash, ParamsSource};
use imm_sim::persist::decode_state;
use imm_sim::spec::{BmcName, parse_bmcs};
use ipmi_iscsi::bootopt::{
    BootParam, Dialect, Pen, WriteExchange, WritePlan, get_request, set_request,
};
use ipmi_iscsi::ipmi::{Exchange, NetFn, Request};
use ipmi_iscsi::params::{
    Authentication, ChapCredentials, IscsiBootParams, IscsiName, IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::render::{IpxeOptions, ipxe_script};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use proptest::prelude::*;
use serde_json::Value;

proptest! {
    #[test]
    fn bmc_ranges_expand_to_every_port_once_in_order(
        ip in any::<u32>(),
        first in 1u16..=65_000,
        count in 1u16..=40,
    ) {
        let ip = Ipv4Addr::from(ip);
        let last = first + count - 1;
        let got = parse_bmcs(&[format!("{ip}:{first}-{last}")]).unwrap();
        let want: Vec<SocketAddr> = (first..=last).map(|p| SocketAddr::from((ip, p))).collect();
        prop_assert_eq!(&got, &want);
        for a in &got {
            let name = BmcName::of(*a);
            let (host, port) = name.as_str().rsplit_once('_').unwrap();
            prop_assert_eq!(host.parse::<Ipv4Addr>().unwrap(), ip);
            prop_assert_eq!(port.parse::<u16>().unwrap(), a.port());
        }
    }

    #[test]
    fn bmc_spec_parsing_never_panics(s in "\\PC{0,40}") {
        let _ = parse_bmcs(&[s]);
    }
}

const SECRET: &str = "propSecretAbc1";
const REVERSE: &str = "propReverseXy2";

fn params(i: u8) -> IscsiBootParams {
    let mut p = IscsiBootParams::new(
        IscsiName::new(format!("iqn.2026-11.org.example.prop:node{i}")).unwrap(),
        IscsiTarget {
            name: IscsiName::new(format!("iqn.2026-11.org.example.prop:disk{i}")).unwrap(),
            address: format!("192.0.2.{}", 10 + i).parse().unwrap(),
            port: 3260 + u16::from(i),
            lun: Lun::new(u16::from(i)).unwrap(),
        },
    );
    if i.is_multiple_of(2) {
        p.auth = Authentication::MutualChap {
            initiator: ChapCredentials {
                user: format!("node{i}"),
                secret: Secret::new(SECRET).unwrap(),
            },
            target: ChapCredentials {
                user: "disk".into(),
                secret: Secret::new(REVERSE).unwrap(),
            },
            allow_any_secret_length: false,
        };
    }
    p
}

#[derive(Clone, Debug)]
enum Op {
    /// A raw chassis or app request.
    Raw { netfn: u8, cmd: u8, data: Vec<u8> },
    /// A complete push of `params(i)` (OEM or mailbox; OEM possibly disabling).
    Push { i: u8, mailbox: bool, enable: bool },
    /// Time passes.
    Wait { secs: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop_oneof![Just(0u8), Just(0x06)], prop_oneof![Just(0x08u8), Just(0x09), Just(0x02), Just(0x01), any::<u8>()], prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(netfn, cmd, data)| Op::Raw { netfn, cmd, data }),
        2 => (0u8..4, any::<bool>(), prop::bool::weighted(0.8))
            .prop_map(|(i, mailbox, enable)| Op::Push { i, mailbox, enable }),
        1 => (0u16..90).prop_map(|secs| Op::Wait { secs }),
    ]
}

fn check(core: &BmcCore, effects: &[Effect], last: &mut Option<bool>) -> Result<(), TestCaseError> {
    for e in effects {
        match e {
            Effect::SaveState(json) => {
                let back = decode_state(Path::new("s.json"), core::str::from_utf8(json).unwrap())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&back, core.store());
            }
            Effect::WriteArtefacts(a) => {
                for s in [SECRET, REVERSE] {
                    prop_assert!(!a.params_json.contains(s) && !a.root_path.contains(s));
                }
                *last = Some(true);
            }
            Effect::RemoveArtefacts => *last = Some(false),
        }
    }
    if let Some(rendered) = *last {
        prop_assert_eq!(rendered, matches!(core.flashed(), Flash::Render(_)));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_core_keeps_state_render_and_secrets_consistent(ops in prop::collection::vec(op(), 1..40)) {
        let name = BmcName::of("127.0.0.1:9001".parse().unwrap());
        let mut core = BmcCore::new(name, BootOptionsStore::new(StoreConfig::default()), Pen::EXAMPLE);
        let mut last = None;
        let start = core.start();
        check(&core, &start, &mut last)?;
        let mut wall = Duration::from_secs(1_800_000_000);
        for op in ops {
            match op {
                Op::Raw { netfn, cmd, data } => {
                    core.handle_command(wall, 1, b"prop", &Request::new(NetFn(netfn), cmd, data));
                }
                Op::Push { i, mailbox, enable } => {
                    let p = params(i);
                    let dialect = if mailbox {
                        Dialect::Mailbox { pen: Pen::EXAMPLE }
                    } else {
                        Dialect::Oem { confidential: true }
                    };
                    let mut plan = WritePlan::new(p.clone(), dialect);
                    plan.enable = enable;
                    let mut ex = WriteExchange::new(&plan).unwrap();
                    while let Some(r) = ex.poll_request() {
                        let resp = core.handle_command(wall, 1, b"admin", &r);
                        ex.handle_response(&resp);
                        let effects = core.take_effects();
                        check(&core, &effects, &mut last)?;
                    }
                    let ok = ex.into_outcome().is_some_and(|r| r.is_ok());
                    // A clean push decides exactly what is flashed.
                    if ok {
                        let f = core.flashed();
                        let source = |f: &Flash| match f {
                            Flash::Render(a) => Some(a.source),
                            Flash::Unrenderable { source, .. } => Some(*source),
                            Flash::Nothing => None,
                        };
                        if !mailbox && enable {
                            let Flash::Render(a) = f else {
                                return Err(TestCaseError::fail(format!("oem push gave {f:?}")));
                            };
                            prop_assert_eq!(a.source, ParamsSource::Oem);
                            prop_assert_eq!(&a.boot_ipxe, &ipxe_script(&p, &IpxeOptions::default()).unwrap());
                        } else if core.store().oem_enabled() {
                            // OEM parameters still enabled take precedence over the mailbox.
                            prop_assert_eq!(source(f), Some(ParamsSource::Oem));
                        } else if mailbox {
                            prop_assert_eq!(source(f), Some(ParamsSource::Mailbox));
                            prop_assert_eq!(
                                matches!(f, Flash::Render(_)),
                                p.auth == Authentication::None,
                                "mailbox parameters render exactly when they need no secret"
                            );
                        } else {
                            prop_assert_ne!(source(f), Some(ParamsSource::Oem), "disabled oem");
                        }
                    }
                }
                Op::Wait { secs } => {
                    wall += Duration::from_secs(u64::from(secs));
                    core.handle_timeout(wall);
                }
            }
            let effects = core.take_effects();
            check(&core, &effects, &mut last)?;
        }
    }
}

#[derive(Clone, Debug)]
enum Damage {
    Truncate { path: Vec<usize>, keep: usize },
    SetNumber { path: Vec<usize>, value: i64 },
    RemoveKey { key: usize },
    Replace { path: Vec<usize> },
}

fn damage() -> impl Strategy<Value = Damage> {
    let path = prop::collection::vec(0usize..300, 0..3);
    prop_oneof![
        (path.clone(), 0usize..300).prop_map(|(path, keep)| Damage::Truncate { path, keep }),
        (path.clone(), -5i64..100_000).prop_map(|(path, value)| Damage::SetNumber { path, value }),
        (0usize..20).prop_map(|key| Damage::RemoveKey { key }),
        path.prop_map(|path| Damage::Replace { path }),
    ]
}

fn walk<'a>(v: &'a mut Value, path: &[usize]) -> &'a mut Value {
    let Some((&i, rest)) = path.split_first() else {
        return v;
    };
    let descend = match &*v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if !descend {
        return v;
    }
    match v {
        Value::Object(m) => {
            let n = m.len();
            let key = m.keys().nth(i % n).cloned().unwrap();
            walk(m.get_mut(&key).unwrap(), rest)
        }
        Value::Array(a) => {
            let n = a.len();
            walk(&mut a[i % n], rest)
        }
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_damaged_state_file_is_an_error_or_a_store_that_works(damages in prop::collection::vec(damage(), 1..4)) {
        let mut store = BootOptionsStore::new(StoreConfig::default());
        for r in [
            set_request(BootParam::BOOT_FLAGS, &[0x80, 0x04, 0, 0, 0]),
            set_request(BootParam::BOOT_INITIATOR_MAILBOX, &[1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]),
        ] {
            store.handle(Duration::from_secs(5), &r);
        }
        let mut v = serde_json::to_value(&store).unwrap();
        for d in damages {
            match d {
                Damage::Truncate { path, keep } => {
                    if let Value::Array(a) = walk(&mut v, &path) {
                        a.truncate(keep);
                    }
                }
                Damage::SetNumber { path, value } => *walk(&mut v, &path) = Value::from(value),
                Damage::RemoveKey { key } => {
                    if let Value::Object(m) = &mut v
                        && let Some(k) = m.keys().nth(key % m.len().max(1)).cloned()
                    {
                        m.remove(&k);
                    }
                }
                Damage::Replace { path } => *walk(&mut v, &path) = Value::String("x".into()),
            }
        }
        if let Ok(mut s) = decode_state(Path::new("s.json"), &v.to_string()) {
            // Every parameter, every block: the loaded store must answer, not panic.
            let t = Duration::from_secs(10);
            for p in 0u8..=0x7f {
                for block in [0u8, 1, 15, 16, 255] {
                    s.handle(t, &get_request(BootParam(p), block, 0));
                    let mut data = vec![block];
                    data.extend_from_slice(&[1u8; 16]);
                    s.handle(t, &set_request(BootParam(p), &data));
                }
            }
            let _ = s.oem_params();
            let _ = s.mailbox_params(Pen::EXAMPLE);
            s.handle(t, &Request::new(NetFn::CHASSIS, 0x02, vec![0x02]));
        }
    }
}
