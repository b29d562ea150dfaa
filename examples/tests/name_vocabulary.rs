//! One vocabulary across the crates: every crate that builds an iSCSI name or a LUN number gives
//! the same verdict on the same input (vectors in `tests/vectors/rfc3720-iscsi-names.txt`), and
//! an engine selection becomes IPMI boot parameters without a hand conversion.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use boot_config_core::{
    Action, BootRequest, Engine, EngineConfig, GIB, InventoryEvent, LunNumber, LunSpec, Portal,
    Provenance, SizeRange, Source, TargetSpec, Timestamp,
};

const VECTORS: &str = include_str!("vectors/rfc3720-iscsi-names.txt");

/// `(expected valid, name)` for every vector line.
fn vectors() -> Vec<(bool, &'static str)> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (verdict, name) = l.split_once('\t').expect("verdict<TAB>name");
            match verdict {
                "valid" => (true, name),
                "invalid" => (false, name),
                other => panic!("unknown verdict {other:?}"),
            }
        })
        .collect()
}

/// Each crate's verdict on `name`, by the route a user of that crate takes.
fn verdicts(name: &str) -> [(&'static str, bool); 6] {
    let now = Instant::now();
    let json = serde_json::to_string(name).unwrap();
    [
        (
            "ipmi_iscsi::params::IscsiName::new",
            ipmi_iscsi::params::IscsiName::new(name).is_ok(),
        ),
        (
            "ipmi_iscsi::params::IscsiName (serde)",
            serde_json::from_str::<ipmi_iscsi::params::IscsiName>(&json).is_ok(),
        ),
        (
            "boot_config_core::IscsiName::new",
            boot_config_core::IscsiName::new(name).is_ok(),
        ),
        (
            "boot_config_core::IscsiName (serde)",
            serde_json::from_str::<boot_config_core::IscsiName>(&json).is_ok(),
        ),
        (
            "iscsi_probe::Session::new (target name)",
            iscsi_probe::Session::new(
                iscsi_probe::SessionConfig::normal("iqn.2026-01.com.example:init", name),
                now,
            )
            .is_ok(),
        ),
        (
            "iscsi_probe::Session::new (initiator name)",
            iscsi_probe::Session::new(iscsi_probe::SessionConfig::discovery(name), now).is_ok(),
        ),
    ]
}

#[test]
fn every_crate_gives_each_name_vector_its_listed_verdict() {
    let v = vectors();
    assert!(
        v.iter().filter(|(ok, _)| *ok).count() >= 10,
        "too few valid vectors"
    );
    assert!(
        v.iter().filter(|(ok, _)| !*ok).count() >= 30,
        "too few invalid vectors"
    );
    let mut wrong = Vec::new();
    for (want, name) in v {
        for (who, got) in verdicts(name) {
            if got != want {
                wrong.push(format!("{who} says {got} for {name:?} (want {want})"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_name_from_the_issue_is_refused_everywhere() {
    for (who, ok) in verdicts("bad name with spaces") {
        assert!(!ok, "{who} accepted it");
    }
}

#[test]
fn every_crate_bounds_lun_numbers_the_same_way() {
    for n in [
        0u64,
        1,
        255,
        256,
        4096,
        16383,
        16384,
        65535,
        65536,
        u64::MAX,
    ] {
        let want = n <= 16383;
        assert_eq!(LunNumber::new(n).is_ok(), want, "boot_config_core {n}");
        assert_eq!(LunNumber::try_from(n).is_ok(), want, "boot_config_core {n}");
        assert_eq!(
            ipmi_iscsi::params::Lun::try_from(n).is_ok(),
            want,
            "ipmi_iscsi {n}"
        );
        assert_eq!(
            serde_json::from_str::<LunNumber>(&n.to_string()).is_ok(),
            want,
            "boot_config_core serde {n}"
        );
        if let Ok(small) = u16::try_from(n) {
            assert_eq!(
                iscsi_probe::scsi::Lun::from_number(small).is_some(),
                want,
                "iscsi_probe {n}"
            );
        }
    }
    // Both encode the same number the same way on the wire.
    for n in [0u16, 7, 255, 256, 16383] {
        let core = LunNumber::try_from(n).unwrap();
        let ipmi = ipmi_iscsi::params::Lun::try_from(u64::from(core)).unwrap();
        let probe = iscsi_probe::scsi::Lun::from_number(core.get()).unwrap();
        assert_eq!(ipmi.to_bytes(), probe.0, "LUN {n}");
        assert_eq!(ipmi.number(), Some(n));
    }
}

#[test]
fn a_selection_becomes_boot_parameters_without_hand_conversion() {
    let config = EngineConfig::new(2026, 1, "example.com").unwrap();
    let mut engine = Engine::new(config);
    let now = Timestamp::from_millis(1_800_000_000_000);
    let seen = Provenance::new(Source::IsnsQuery, now);
    let target = boot_config_core::IscsiName::new("iqn.2026-01.com.example:array1.t1").unwrap();
    let portal = Portal::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)), 3260);
    for e in [
        InventoryEvent::TargetUpserted(TargetSpec {
            name: target.clone(),
            entity: boot_config_core::EntityId::new("array1"),
            alias: None,
            portals: vec![portal],
        }),
        InventoryEvent::LunsReported {
            target: target.clone(),
            luns: vec![LunSpec {
                // Flat space addressing: above 255.
                number: LunNumber::new(300).unwrap(),
                size: Some(64 * GIB),
            }],
        },
    ] {
        engine.apply(&e, seen);
    }
    let req = BootRequest::new("req-1", "server-a", SizeRange::at_least(40 * GIB));
    engine.reserve(&req, now).unwrap();
    let plan = engine.provisioning_plan(&req.id, &[7u8; 32]).unwrap();
    let settings = plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::ConfigureBmc(b) => Some(b),
            _ => None,
        })
        .expect("a BMC step");
    let params = bcm::manager::live::boot_params(settings, None).unwrap();
    assert_eq!(
        params.initiator_name.as_str(),
        "iqn.2026-01.com.example:server-a"
    );
    assert_eq!(params.primary.name.as_str(), target.as_str());
    assert_eq!(
        params.primary.lun,
        ipmi_iscsi::params::Lun::new(300).unwrap()
    );
    assert_eq!(params.primary.address, portal.addr);
}
