//! Provisioning plans, compensations, release plans and names.

mod common;

use boot_config_core::*;
use common::*;

fn reserved(auth: AuthWanted, redundancy: Redundancy) -> (Engine, RequestId) {
    let mut e = engine_with(&three_targets());
    let mut r = req("r1", "Server_A", 45);
    r.auth = auth;
    r.redundancy = redundancy;
    r.server.bmc = Some("10.9.0.5:623".into());
    e.reserve(&r, T0).unwrap();
    (e, r.id)
}

#[test]
fn plan_follows_the_provisioning_sequence() {
    let (e, id) = reserved(AuthWanted::None, Redundancy::None);
    let plan = e.provisioning_plan(&id, &[]).unwrap();
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StepKind::Reserve,
            StepKind::RegisterInitiator,
            StepKind::CreateDd,
            StepKind::ConfigureBmc,
            StepKind::Commit
        ]
    );
    let Action::CreateDd { dd_name, targets } = &plan.steps[2].action else {
        panic!()
    };
    assert_eq!(dd_name, "bcm:server_a".replace('_', "-").as_str());
    let a = e.ledger().get(&id).unwrap();
    assert_eq!(
        targets,
        &[a.selection.primary.lun.target.clone(), a.initiator.clone()],
        "one registration adds the target and the initiator: the target is notified once"
    );
}

#[test]
fn initiator_name_follows_the_iqn_scheme_and_is_sanitised() {
    let (e, id) = reserved(AuthWanted::None, Redundancy::None);
    let a = e.ledger().get(&id).unwrap();
    assert_eq!(a.initiator.as_str(), "iqn.2026-01.com.example:server-a");
}

#[test]
fn rejects_bad_naming_authority_dates_and_domains() {
    assert!(matches!(
        InitiatorNameScheme::new(2026, 13, "example.com"),
        Err(NamingError::BadDate { .. })
    ));
    assert!(matches!(
        InitiatorNameScheme::new(2026, 1, "exa mple.com"),
        Err(NamingError::BadDomain { .. })
    ));
    assert!(matches!(
        InitiatorNameScheme::new(2026, 1, ""),
        Err(NamingError::BadDomain { .. })
    ));
    let s = InitiatorNameScheme::new(2026, 1, "example.com").unwrap();
    let long = ServerName::new("x".repeat(300));
    assert!(matches!(
        s.initiator_for(&long),
        Err(NamingError::TooLong { .. })
    ));
}

#[test]
fn chap_plan_consumes_the_supplied_random_bytes_and_never_prints_the_secret() {
    let (e, id) = reserved(AuthWanted::MutualChap, Redundancy::None);
    assert!(matches!(
        e.provisioning_plan(&id, &[1u8; 16]),
        Err(PlanError::Randomness(_))
    ));
    let random: Vec<u8> = (0u8..32).collect();
    let plan = e.provisioning_plan(&id, &random).unwrap();
    assert_eq!(
        plan,
        e.provisioning_plan(&id, &random).unwrap(),
        "same bytes, same plan"
    );
    let Some(Action::ConfigureBmc(bmc)) = plan
        .steps
        .iter()
        .map(|s| &s.action)
        .find(|a| matches!(a, Action::ConfigureBmc(_)))
    else {
        panic!()
    };
    let chap = bmc.chap.as_ref().unwrap();
    assert_eq!(chap.secret.expose_secret(), "ABCDEFGHIJKLMNOP");
    assert_eq!(
        chap.mutual.as_ref().unwrap().1.expose_secret(),
        "QRSTUVWXYZabcdef"
    );
    let printed = format!("{plan:?}");
    assert!(!printed.contains("ABCDEFGHIJKLMNOP"));
    assert!(!printed.contains("QRSTUVWXYZabcdef"));
    assert_eq!(plan.steps[1].kind, StepKind::SetTargetChap);
}

#[test]
fn rollback_undoes_completed_steps_in_reverse() {
    let (e, id) = reserved(AuthWanted::None, Redundancy::None);
    let plan = e.provisioning_plan(&id, &[]).unwrap();
    // Reserve, RegisterInitiator, CreateDd done; ConfigureBmc failed.
    let undo = plan.rollback(3);
    assert!(matches!(undo[0], Action::RemoveDd { .. }));
    assert!(matches!(undo[1], Action::DeregisterInitiator { .. }));
    assert!(matches!(undo[2], Action::Release { .. }));
    assert_eq!(undo.len(), 3);
    assert_eq!(plan.remaining(3)[0].kind, StepKind::ConfigureBmc);
    assert!(plan.remaining(99).is_empty());
}

#[test]
fn release_plan_is_the_reverse_of_the_provisioning_plan() {
    let (e, id) = reserved(AuthWanted::Chap, Redundancy::SecondaryOnOtherEntity);
    let plan = e.provisioning_plan(&id, &[9u8; 16]).unwrap();
    assert_eq!(
        e.release_plan(&id).unwrap(),
        plan.rollback(plan.steps.len())
    );
    let text: Vec<String> = e
        .release_plan(&id)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(text[0], "clear boot settings on BMC 10.9.0.5:623");
    assert_eq!(text.last().unwrap(), "release r1");
}

#[test]
fn redundant_plan_puts_both_targets_in_the_dd_and_both_paths_on_the_bmc() {
    let (e, id) = reserved(AuthWanted::None, Redundancy::SecondaryOnOtherEntity);
    let plan = e.provisioning_plan(&id, &[]).unwrap();
    let Action::CreateDd { targets, .. } = &plan.steps[2].action else {
        panic!()
    };
    assert_eq!(targets.len(), 3, "both targets and the initiator");
    let Action::ConfigureBmc(b) = &plan.steps[3].action else {
        panic!()
    };
    assert!(b.secondary.is_some());
    assert_eq!(b.bmc.as_deref(), Some("10.9.0.5:623"));
}
