//! imm-sim's BMC core (boot-options store + render-on-commit + persistence effects) under
//! arbitrary command sequences, mixed with complete, valid pushes (the manager's
//! WriteExchange in both dialects) so the render and removal paths are reached.
//! Invariants: no panic; every SaveState decodes (shape-checked) to the store as it was;
//! the last render effect matches what is flashed; public files never carry a secret.
#![no_main]

use std::time::Duration;

use imm_sim::bmc::{BmcCore, Effect};
use imm_sim::flash::Flash;
use imm_sim::persist::decode_state;
use imm_sim::spec::BmcName;
use ipmi_iscsi::bootopt::{Dialect, Pen, WriteExchange, WritePlan};
use ipmi_iscsi::ipmi::{Exchange, NetFn, Request};
use ipmi_iscsi::params::{
    AddressConfig, Authentication, ChapCredentials, InitiatorNetwork, IscsiBootParams, IscsiName,
    IscsiTarget, Lun, Secret,
};
use ipmi_iscsi::store::{BootOptionsStore, StoreConfig};
use libfuzzer_sys::fuzz_target;

fn target(name: &str, addr: &str, lun: u16) -> IscsiTarget {
    IscsiTarget {
        name: IscsiName::new(name).unwrap(),
        address: addr.parse().unwrap(),
        port: 3260,
        lun: Lun::new(lun).unwrap(),
    }
}

fn plans() -> Vec<WritePlan> {
    let mut a = IscsiBootParams::new(
        IscsiName::new("iqn.2026-11.org.example.fz:a").unwrap(),
        target("iqn.2026-11.org.example.fz:disk-a", "192.0.2.1", 1),
    );
    a.auth = Authentication::MutualChap {
        initiator: ChapCredentials {
            user: "fz-a".into(),
            secret: Secret::new("fuzzSecretAAA1").unwrap(),
        },
        target: ChapCredentials {
            user: "fz-t".into(),
            secret: Secret::new("fuzzReverseBB2").unwrap(),
        },
        allow_any_secret_length: false,
    };
    let mut b = IscsiBootParams::new(
        IscsiName::new("iqn.2026-11.org.example.fz:b").unwrap(),
        target("iqn.2026-11.org.example.fz:disk-b", "2001:db8::5", 7),
    );
    b.network = InitiatorNetwork {
        config: AddressConfig::Static {
            address: "2001:db8::10".parse().unwrap(),
            prefix_len: 64,
            gateway: Some("2001:db8::1".parse().unwrap()),
            dns: vec!["2001:db8::53".parse().unwrap()],
        },
        vlan: Some(42),
    };
    b.secondary = Some(target("iqn.2026-11.org.example.fz:disk-c", "192.0.2.3", 2));
    let mut disabled = WritePlan::new(a.clone(), Dialect::Oem { confidential: true });
    disabled.enable = false;
    vec![
        WritePlan::new(a, Dialect::Oem { confidential: true }),
        WritePlan::new(b.clone(), Dialect::Oem { confidential: true }),
        WritePlan::new(b, Dialect::Mailbox { pen: Pen::EXAMPLE }),
        disabled,
    ]
}

const SECRETS: [&str; 2] = ["fuzzSecretAAA1", "fuzzReverseBB2"];

fn check(core: &BmcCore, effects: &[Effect], last_flash: &mut Option<bool>, full: bool) {
    for e in effects {
        match e {
            Effect::SaveState(json) => {
                if full {
                    let text = core::str::from_utf8(json).unwrap();
                    let back = decode_state(std::path::Path::new("state.json"), text).unwrap();
                    assert_eq!(&back, core.store(), "saved state is the store");
                }
            }
            Effect::WriteArtefacts(a) => {
                for s in SECRETS {
                    assert!(!a.params_json.contains(s) && !a.root_path.contains(s));
                }
                *last_flash = Some(true);
            }
            Effect::RemoveArtefacts => *last_flash = Some(false),
        }
    }
    if let Some(rendered) = *last_flash {
        assert_eq!(rendered, matches!(core.flashed(), Flash::Render(_)));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let store = BootOptionsStore::new(StoreConfig {
        mailbox_blocks: u16::from(cfg & 0x1f) + 1,
        ..StoreConfig::default()
    });
    let name = BmcName::of("127.0.0.1:9001".parse().unwrap());
    let mut core = BmcCore::new(name, store, Pen::EXAMPLE);
    let mut last_flash = None;
    let start = core.start();
    check(&core, &start, &mut last_flash, true);
    let plans = plans();
    let mut wall = Duration::from_secs(1_800_000_000);
    let full = data.len() % 8 == 0;
    // Each op: [selector, length, data...].
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len % 24).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        let request = match sel % 8 {
            0 | 1 => Request::new(NetFn::CHASSIS, 0x08, body.to_vec()),
            2 => Request::new(NetFn::CHASSIS, 0x09, body.to_vec()),
            3 => Request::new(NetFn::CHASSIS, 0x02, body.to_vec()),
            4 => Request::new(NetFn(sel >> 3), *len, body.to_vec()),
            5 => {
                let plan = &plans[usize::from(*len) % plans.len()];
                let mut ex = WriteExchange::new(plan).unwrap();
                while let Some(r) = ex.poll_request() {
                    let resp = core.handle_command(wall, 1, b"admin", &r);
                    ex.handle_response(&resp);
                    let effects = core.take_effects();
                    check(&core, &effects, &mut last_flash, full);
                }
                continue;
            }
            _ => {
                wall += Duration::from_secs(u64::from(*len));
                core.handle_timeout(wall);
                let effects = core.take_effects();
                check(&core, &effects, &mut last_flash, full);
                continue;
            }
        };
        let _ = core.handle_command(wall, 7, b"fuzz", &request);
        let effects = core.take_effects();
        check(&core, &effects, &mut last_flash, full);
    }
});
