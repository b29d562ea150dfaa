//! The executor's ordering, journalling, rollback and recovery against an in-memory model of
//! iSNS and BMCs (the live effects are tested against real peers in `examples/tests/`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boot_config_core::{
    Action, AuthWanted, BootRequest, DdId, DdSpec, EngineConfig, EntityId, GIB, InventoryEvent,
    IscsiName, LunNumber, LunSpec, LunState, Portal, Provenance, ServerIdentity, SizeRange, Source,
    TargetSpec, Timestamp,
};

use super::*;

#[derive(Default)]
struct World {
    dds: BTreeMap<u32, (String, BTreeSet<String>)>,
    next_dd: u32,
    initiators: BTreeSet<String>,
    chap: BTreeSet<(String, String)>,
    bmcs: BTreeMap<String, String>,
}

#[derive(Clone, Copy)]
enum Fault {
    Transient(u32),
    Permanent,
    Hang,
}

/// An in-memory iSNS + target + BMC world with fault injection by action prefix.
#[derive(Default)]
struct Fake {
    world: Mutex<World>,
    log: Mutex<Vec<String>>,
    faults: Mutex<Vec<(String, Fault)>>,
}

impl Fake {
    fn fail(&self, prefix: &str, fault: Fault) {
        self.faults.lock().unwrap().push((prefix.to_owned(), fault));
    }

    fn world_is_empty(&self) -> bool {
        let w = self.world.lock().unwrap();
        w.dds.is_empty() && w.initiators.is_empty() && w.chap.is_empty() && w.bmcs.is_empty()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn dd_id(w: &World, name: &str) -> Option<u32> {
        w.dds
            .iter()
            .find(|(_, (n, _))| n == name)
            .map(|(id, _)| *id)
    }
}

impl Effects for Arc<Fake> {
    async fn perform(
        &self,
        action: &Action,
        ctx: &StepContext<'_>,
    ) -> Result<StepOutcome, StepError> {
        let text = action.to_string();
        self.log.lock().unwrap().push(text.clone());
        let fault = {
            let mut faults = self.faults.lock().unwrap();
            let hit = faults
                .iter_mut()
                .find(|(p, _)| text.starts_with(p.as_str()));
            match hit {
                Some((_, Fault::Transient(n))) if *n > 0 => {
                    *n -= 1;
                    Some(Fault::Transient(0))
                }
                Some((_, Fault::Transient(_))) | None => None,
                Some((_, f)) => Some(*f),
            }
        };
        match fault {
            Some(Fault::Transient(_)) => {
                return Err(StepError::transient(format!("{text}: timed out")));
            }
            Some(Fault::Permanent) => return Err(StepError::permanent(format!("{text}: refused"))),
            Some(Fault::Hang) => std::future::pending::<()>().await,
            None => {}
        }
        let mut w = self.world.lock().unwrap();
        let known = ctx.known_dd;
        let detail = match action {
            Action::CreateDd { dd_name, targets } => {
                let id = match Fake::dd_id(&w, dd_name) {
                    Some(id) => id,
                    None => {
                        w.next_dd += 1;
                        let id = w.next_dd;
                        w.dds.insert(id, (dd_name.clone(), BTreeSet::new()));
                        id
                    }
                };
                if let Some((_, m)) = w.dds.get_mut(&id) {
                    m.extend(targets.iter().map(|t| t.as_str().to_owned()));
                }
                format!("DD {id}")
            }
            Action::AddDdMember { dd_name, member } => {
                let id =
                    Fake::dd_id(&w, dd_name).ok_or_else(|| StepError::permanent("no such DD"))?;
                w.dds
                    .get_mut(&id)
                    .unwrap()
                    .1
                    .insert(member.as_str().to_owned());
                format!("DD {id}")
            }
            Action::RemoveDd { dd_name } => {
                let id = known.or_else(|| Fake::dd_id(&w, dd_name));
                if let Some(id) = id {
                    w.dds.remove(&id);
                }
                "removed".to_owned()
            }
            Action::RemoveDdMember { dd_name, member } => {
                if let Some(id) = Fake::dd_id(&w, dd_name) {
                    w.dds.get_mut(&id).unwrap().1.remove(member.as_str());
                }
                "removed".to_owned()
            }
            Action::RegisterInitiator { initiator, .. } => {
                w.initiators.insert(initiator.as_str().to_owned());
                "registered".to_owned()
            }
            Action::DeregisterInitiator { initiator } => {
                w.initiators.remove(initiator.as_str());
                "deregistered".to_owned()
            }
            Action::SetTargetChap {
                targets,
                credentials,
            } => {
                for t in targets {
                    w.chap
                        .insert((t.as_str().to_owned(), credentials.user.clone()));
                }
                "set".to_owned()
            }
            Action::RemoveTargetChap { targets, user } => {
                for t in targets {
                    w.chap.remove(&(t.as_str().to_owned(), user.clone()));
                }
                "removed".to_owned()
            }
            Action::ConfigureBmc(s) => {
                w.bmcs.insert(
                    s.bmc.clone().unwrap_or_default(),
                    s.primary.target.as_str().to_owned(),
                );
                "configured".to_owned()
            }
            Action::ClearBmcBootConfig { bmc } => {
                w.bmcs.remove(bmc.as_deref().unwrap_or_default());
                "cleared".to_owned()
            }
            other => return Err(StepError::permanent(format!("unexpected {other}"))),
        };
        Ok(StepOutcome::detail(detail))
    }

    async fn target_chap_in_place(&self, action: &Action, _: &StepContext<'_>) -> Option<bool> {
        let Action::SetTargetChap {
            targets,
            credentials,
        } = action
        else {
            return None;
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("check CHAP account {}", credentials.user));
        let w = self.world.lock().unwrap();
        Some(targets.iter().all(|t| {
            w.chap
                .contains(&(t.as_str().to_owned(), credentials.user.clone()))
        }))
    }
}

fn target(i: usize) -> IscsiName {
    IscsiName::new(format!("iqn.2000-01.test.tgt:disk{i}")).unwrap()
}

/// `n` targets with one LUN each, sizes 10, 20, … GiB.
fn inventory(n: usize) -> Vec<InventoryEvent> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(InventoryEvent::TargetUpserted(TargetSpec {
            name: target(i),
            entity: EntityId::new("array"),
            alias: None,
            portals: vec![Portal::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3260)],
        }));
        v.push(InventoryEvent::LunsReported {
            target: target(i),
            luns: vec![LunSpec {
                number: LunNumber::new(1).unwrap(),
                size: Some(10 * GIB * (u64::try_from(i).unwrap() + 1)),
            }],
        });
    }
    v
}

struct Rig {
    fake: Arc<Fake>,
    clock: Arc<AtomicU64>,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        Rig {
            fake: Arc::new(Fake::default()),
            clock: Arc::new(AtomicU64::new(1_800_000_000_000)),
            path: dir.path().join("bcm.sqlite"),
            _dir: dir,
        }
    }

    /// A manager over the store file, its engine rebuilt from the stored ledger and fed the
    /// inventory (as after a restart) and the fake world's DDs.
    fn manager(&self, targets: usize) -> Manager<Arc<Fake>> {
        let store = Store::open(&self.path).unwrap();
        let ledger = Manager::<Arc<Fake>>::load_ledger(&store).unwrap();
        let mut config = EngineConfig::new(2026, 1, "example.com").unwrap();
        config.reservation_ttl = Duration::from_secs(600);
        let engine = Engine::with_ledger(config, ledger);
        let clock = Arc::clone(&self.clock);
        let options = ManagerOptions {
            retry: RetryPolicy {
                attempts: 3,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
            },
            clock: Arc::new(move || Timestamp::from_millis(clock.load(Ordering::SeqCst))),
            random: Arc::new(|b: &mut [u8]| {
                b.iter_mut().zip(0u8..).for_each(|(x, i)| *x = i);
            }),
            ..ManagerOptions::default()
        };
        let m = Manager::new(engine, store, Arc::clone(&self.fake), options);
        m.apply(&inventory(targets), self.seen());
        self.feed_dds(&m);
        m
    }

    fn seen(&self) -> Provenance {
        Provenance::new(
            Source::IsnsQuery,
            Timestamp::from_millis(self.clock.load(Ordering::SeqCst)),
        )
    }

    /// What an iSNS walk would report about DDs.
    fn feed_dds(&self, m: &Manager<Arc<Fake>>) {
        let dds: Vec<InventoryEvent> = self
            .fake
            .world
            .lock()
            .unwrap()
            .dds
            .iter()
            .map(|(id, (name, members))| {
                InventoryEvent::DdUpserted(DdSpec {
                    id: DdId(*id),
                    name: name.clone(),
                    members: members.iter().map(|m| IscsiName::new(m).unwrap()).collect(),
                })
            })
            .collect();
        m.apply(&dds, self.seen());
    }

    fn advance(&self, d: Duration) {
        self.clock
            .fetch_add(u64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

fn request(id: &str, server: &str, gib: u64) -> ProvisionRequest {
    let mut boot = BootRequest::new(id, server, SizeRange::at_least(gib * GIB));
    boot.server = ServerIdentity {
        bmc: Some(format!("bmc-{server}")),
        ..ServerIdentity::named(server)
    };
    ProvisionRequest {
        boot,
        power_cycle: None,
    }
}

fn chap_request(id: &str, server: &str, gib: u64) -> ProvisionRequest {
    let mut r = request(id, server, gib);
    r.boot.auth = AuthWanted::Chap;
    r
}

fn state_of(m: &Manager<Arc<Fake>>, id: &str) -> RequestState {
    m.with_store(|s| s.request(id).unwrap().unwrap().state)
}

#[tokio::test]
async fn provisions_in_plan_order_and_commits() {
    let rig = Rig::new();
    let m = rig.manager(3);
    let report = m
        .provision(chap_request("r1", "server-a", 15))
        .await
        .unwrap();
    assert_eq!(
        report.assignment.primary.target,
        target(1).as_str(),
        "best fit: 20 GiB for 15"
    );
    assert_eq!(report.assignment.state, "committed");
    assert_eq!(
        report.assignment.initiator,
        "iqn.2026-01.com.example:server-a"
    );
    let log = rig.fake.log();
    let kinds: Vec<&str> = log
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(kinds, ["set", "register", "create", "configure"], "{log:?}");
    let w = rig.fake.world.lock().unwrap();
    let (name, members) = w.dds.values().next().unwrap();
    assert_eq!(name, "bcm:server-a");
    assert_eq!(
        members.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "iqn.2000-01.test.tgt:disk1",
            "iqn.2026-01.com.example:server-a"
        ]
    );
    assert!(w.initiators.contains("iqn.2026-01.com.example:server-a"));
    assert_eq!(
        w.bmcs.get("bmc-server-a").map(String::as_str),
        Some(target(1).as_str())
    );
    drop(w);
    assert_eq!(state_of(&m, "r1"), RequestState::Completed);
    let steps = m.with_store(|s| s.steps("r1").unwrap());
    assert!(
        steps.iter().filter(|e| e.phase == StepPhase::Done).count() == 6,
        "{steps:?}"
    );
    m.with_engine(|e| {
        let lun = e
            .inventory()
            .lun(&boot_config_core::LunRef::new(
                target(1),
                boot_config_core::LunNumber::new(1).unwrap(),
            ))
            .unwrap();
        assert_eq!(lun.state, LunState::Assigned);
    });
}

#[tokio::test]
async fn same_request_id_replays_without_side_effects() {
    let rig = Rig::new();
    let m = rig.manager(2);
    let first = m.provision(request("r1", "server-a", 5)).await.unwrap();
    let calls = rig.fake.log().len();
    let again = m.provision(request("r1", "server-a", 5)).await.unwrap();
    assert!(again.replayed && again.steps.is_empty());
    assert_eq!(again.assignment, first.assignment);
    assert_eq!(rig.fake.log().len(), calls, "a replay performs nothing");
    let other = m.provision(request("r1", "server-a", 7)).await.unwrap_err();
    assert!(matches!(other, ManagerError::Conflict(_)), "{other}");
}

#[tokio::test]
async fn a_failed_bmc_step_rolls_back_everything_and_frees_the_lun() {
    let rig = Rig::new();
    let m = rig.manager(1);
    rig.fake.fail("configure BMC", Fault::Permanent);
    let err = m
        .provision(chap_request("r1", "server-a", 5))
        .await
        .unwrap_err();
    match &err {
        ManagerError::StepFailed {
            step, rolled_back, ..
        } => {
            assert_eq!(step, "configure BMC");
            assert!(rolled_back);
        }
        other => panic!("{other}"),
    }
    assert!(rig.fake.world_is_empty());
    assert_eq!(state_of(&m, "r1"), RequestState::RolledBack);
    assert!(m.assignments().is_empty());
    let log = rig.fake.log();
    let tail: Vec<&str> = log.iter().rev().take(4).map(String::as_str).collect();
    assert!(
        tail[0].starts_with("remove CHAP"),
        "compensations run newest first: {log:?}"
    );
    assert!(
        tail[3].starts_with("clear boot settings"),
        "the failed step is compensated too: {log:?}"
    );
    let replay = m
        .provision(chap_request("r1", "server-a", 5))
        .await
        .unwrap_err();
    assert!(
        matches!(replay, ManagerError::RolledBackEarlier { .. }),
        "{replay}"
    );
    rig.fake.faults.lock().unwrap().clear();
    m.provision(chap_request("r2", "server-a", 5))
        .await
        .unwrap();
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let rig = Rig::new();
    let m = rig.manager(1);
    rig.fake.fail("create DD", Fault::Transient(2));
    m.provision(request("r1", "server-a", 5)).await.unwrap();
    let creates = rig
        .fake
        .log()
        .iter()
        .filter(|l| l.starts_with("create DD"))
        .count();
    assert_eq!(creates, 3);
    let mut out = String::new();
    m.metrics().render(&mut out);
    assert!(out.contains("bcm_step_retries_total 2"), "{out}");
    assert!(
        out.contains("bcm_provisions_total{outcome=\"ok\"} 1"),
        "{out}"
    );
}

#[tokio::test]
async fn a_failed_compensation_leaves_the_request_rolling_back_until_recover() {
    let rig = Rig::new();
    let m = rig.manager(1);
    rig.fake.fail("configure BMC", Fault::Permanent);
    rig.fake.fail("deregister initiator", Fault::Permanent);
    let err = m.provision(request("r1", "server-a", 5)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ManagerError::StepFailed {
                rolled_back: false,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(state_of(&m, "r1"), RequestState::RollingBack);
    assert_eq!(
        m.assignments().len(),
        1,
        "the LUN stays held until the rollback finishes"
    );
    rig.fake.faults.lock().unwrap().clear();
    let out = m.recover().await.unwrap();
    assert_eq!(out.rolled_back, ["r1"]);
    assert_eq!(state_of(&m, "r1"), RequestState::RolledBack);
    let w = rig.fake.world.lock().unwrap();
    assert!(w.dds.is_empty() && w.initiators.is_empty());
}

#[tokio::test]
async fn a_crash_mid_plan_is_resumed_after_restart() {
    let rig = Rig::new();
    {
        let m = rig.manager(2);
        rig.fake.fail("configure", Fault::Hang);
        let r = tokio::time::timeout(
            Duration::from_millis(200),
            m.provision(request("r1", "server-a", 5)),
        )
        .await;
        assert!(
            r.is_err(),
            "the provisioning hung and was dropped: the 'crash'"
        );
    }
    rig.fake.faults.lock().unwrap().clear();
    let m = rig.manager(2);
    assert_eq!(
        m.assignments()[0].state,
        "reserved",
        "the reservation survived the restart"
    );
    let out = m.recover().await.unwrap();
    assert_eq!(out.resumed, ["r1"]);
    assert_eq!(state_of(&m, "r1"), RequestState::Completed);
    let log = rig.fake.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("create DD")).count(),
        1,
        "done steps are not redone: {log:?}"
    );
    let w = rig.fake.world.lock().unwrap();
    assert_eq!(w.dds.len(), 1);
    assert_eq!(w.dds.values().next().unwrap().1.len(), 2);
}

#[tokio::test]
async fn a_crash_past_the_reservation_ttl_is_rolled_back_after_restart() {
    let rig = Rig::new();
    {
        let m = rig.manager(1);
        rig.fake.fail("configure", Fault::Hang);
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            m.provision(request("r1", "server-a", 5)),
        )
        .await;
    }
    rig.fake.faults.lock().unwrap().clear();
    rig.advance(Duration::from_secs(3600));
    let m = rig.manager(1);
    let out = m.recover().await.unwrap();
    assert_eq!(out.rolled_back, ["r1"]);
    assert!(m.assignments().is_empty());
    let w = rig.fake.world.lock().unwrap();
    assert!(
        w.dds.is_empty() && w.initiators.is_empty() && w.bmcs.is_empty(),
        "nothing orphaned"
    );
}

#[tokio::test]
async fn release_undoes_everything_and_returns_the_lun() {
    let rig = Rig::new();
    let m = rig.manager(1);
    m.provision(chap_request("r1", "server-a", 5))
        .await
        .unwrap();
    let steps = m.release("server-a").await.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.step).collect();
    assert_eq!(
        names,
        [
            "clear BMC",
            "remove DD",
            "deregister initiator",
            "remove target CHAP",
            "release"
        ]
    );
    assert!(rig.fake.world_is_empty());
    assert_eq!(state_of(&m, "r1"), RequestState::Released);
    assert_eq!(state_of(&m, "release:r1"), RequestState::Completed);
    assert!(
        m.with_store(|s| s.load_ledger_json().unwrap())
            .ends_with("[]}")
    );
    let again = m.release("server-a").await.unwrap_err();
    assert!(
        matches!(again, ManagerError::NothingToRelease { .. }),
        "{again}"
    );
    m.provision(request("r2", "server-b", 5)).await.unwrap();
}

#[tokio::test]
async fn a_failed_release_keeps_the_disk_assigned_and_can_be_retried() {
    let rig = Rig::new();
    let m = rig.manager(1);
    m.provision(request("r1", "server-a", 5)).await.unwrap();
    rig.fake.fail("remove DD", Fault::Permanent);
    let err = m.release("server-a").await.unwrap_err();
    assert!(
        matches!(err, ManagerError::ReleaseIncomplete { .. }),
        "{err}"
    );
    assert_eq!(m.assignments().len(), 1);
    rig.fake.faults.lock().unwrap().clear();
    let steps = m.release("server-a").await.unwrap();
    assert_eq!(
        steps.first().map(|s| s.step),
        Some("remove DD"),
        "done steps are skipped"
    );
    assert!(m.assignments().is_empty());
}

#[tokio::test]
async fn concurrent_requests_never_share_a_lun() {
    let rig = Rig::new();
    let m = rig.manager(10);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            m.provision(request(&format!("r{i}"), &format!("server-{i}"), 5))
                .await
        }));
    }
    let mut ok = 0;
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(ManagerError::Rejected(_)) => rejected += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, rejected), (10, 10));
    let luns: BTreeSet<String> = m
        .assignments()
        .iter()
        .map(|a| a.primary.target.clone())
        .collect();
    assert_eq!(luns.len(), 10, "ten distinct LUNs for ten servers");
    m.with_engine(Engine::verify).unwrap();
}

#[tokio::test]
async fn a_second_operation_for_a_busy_server_is_refused() {
    let rig = Rig::new();
    let m = rig.manager(2);
    rig.fake.fail("configure", Fault::Hang);
    let m2 = m.clone();
    let running = tokio::spawn(async move { m2.provision(request("r1", "server-a", 5)).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = m.provision(request("r2", "server-a", 5)).await.unwrap_err();
    assert!(matches!(err, ManagerError::Busy { .. }), "{err}");
    running.abort();
}

#[tokio::test]
async fn recover_repairs_committed_dds_and_removes_only_recorded_orphans() {
    let rig = Rig::new();
    {
        let m = rig.manager(4);
        m.provision(request("r1", "server-a", 5)).await.unwrap();
        m.provision(request("r2", "ghost", 5)).await.unwrap();
    }
    // r2's allocation vanished from the store (as after a release that lost its way): its DD
    // and initiator are recorded as created by r2, which holds nothing now.
    {
        let conn = rusqlite::Connection::open(&rig.path).unwrap();
        conn.execute("DELETE FROM allocations WHERE request_id = 'r2'", [])
            .unwrap();
        conn.execute(
            "UPDATE requests SET state = 'released' WHERE request_id = 'r2'",
            [],
        )
        .unwrap();
    }
    // A storage target named under the manager's own domain, in the orphan DD.
    let array = "iqn.2026-01.com.example:array1.boot";
    {
        // Someone removed the initiator from server-a's DD; DDs with our prefix that the
        // store does not record appeared; a foreign DD too.
        let mut w = rig.fake.world.lock().unwrap();
        for (name, members) in w.dds.values_mut() {
            if name == "bcm:server-a" {
                members.remove("iqn.2026-01.com.example:server-a");
            }
            if name == "bcm:ghost" {
                members.insert(array.to_owned());
            }
        }
        w.initiators.insert(array.to_owned());
        w.next_dd += 1;
        let id = w.next_dd;
        w.dds.insert(
            id,
            (
                "bcm:unrecorded".to_owned(),
                ["iqn.2026-01.com.example:unrecorded".to_owned()].into(),
            ),
        );
        w.initiators
            .insert("iqn.2026-01.com.example:unrecorded".to_owned());
        w.next_dd += 1;
        let foreign = w.next_dd;
        w.dds
            .insert(foreign, ("someone-else".to_owned(), BTreeSet::new()));
    }
    let m = rig.manager(4);
    let out = m.recover().await.unwrap();
    assert_eq!(out.repaired, ["r1"]);
    assert_eq!(out.orphans_removed, ["bcm:ghost"]);
    assert_eq!(out.orphans_left, ["bcm:unrecorded"]);
    let w = rig.fake.world.lock().unwrap();
    let names: BTreeSet<&str> = w.dds.values().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["bcm:server-a", "bcm:unrecorded", "someone-else"]),
        "unrecorded and foreign DDs are left alone"
    );
    let a = w.dds.values().find(|(n, _)| n == "bcm:server-a").unwrap();
    assert!(a.1.contains("iqn.2026-01.com.example:server-a"));
    assert!(!w.initiators.contains("iqn.2026-01.com.example:ghost"));
    assert!(
        w.initiators.contains(array),
        "a target is never deregistered"
    );
    assert!(w.initiators.contains("iqn.2026-01.com.example:unrecorded"));
}

#[tokio::test]
async fn names_that_fold_together_and_a_shared_bmc_are_refused_before_reserving() {
    let rig = Rig::new();
    let m = rig.manager(4);
    let mut q = request("r1", "Q", 5);
    q.boot.server.bmc = Some("127.0.0.1:9001".to_owned());
    m.provision(q).await.unwrap();
    let before = rig.fake.log().len();
    for (id, server, bmc, holder) in [
        ("r2", "q", "127.0.0.1:9002", "Q"),
        ("r3", "other", "127.0.0.1:9001", "Q"),
    ] {
        let mut r = request(id, server, 5);
        r.boot.server.bmc = Some(bmc.to_owned());
        let err = m.provision(r).await.unwrap_err();
        assert!(matches!(err, ManagerError::Conflict(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("server {holder}")),
            "{err}"
        );
    }
    assert_eq!(rig.fake.log().len(), before, "nothing was done for them");
    assert_eq!(m.assignments().len(), 1);
}

#[tokio::test]
async fn rejections_explain_themselves() {
    let rig = Rig::new();
    let m = rig.manager(2);
    let err = m
        .provision(request("r1", "server-a", 100))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("largest available is 20 GiB"), "{err}");
    assert!(rig.fake.log().is_empty());
}

#[tokio::test]
async fn recover_sets_again_the_chap_account_a_target_forgot_and_leaves_present_ones() {
    let rig = Rig::new();
    {
        let m = rig.manager(2);
        m.provision(chap_request("r1", "server-a", 5))
            .await
            .unwrap();
        m.provision(request("r2", "server-b", 5)).await.unwrap();
    }
    // A manager that knows the DDs (as after an iSNS walk), so only CHAP can need work.
    let m = rig.manager(2);
    let before = rig.fake.log().len();
    let out = m.recover().await.unwrap();
    assert!(out.is_clean(), "{out:?}");
    assert_eq!(
        rig.fake.log()[before..],
        ["check CHAP account iqn.2026-01.com.example:server-a"],
        "only the CHAP assignment is checked, and nothing is set when in place"
    );
    // The target restarted and forgot its accounts.
    rig.fake.world.lock().unwrap().chap.clear();
    let out = m.recover().await.unwrap();
    assert_eq!(out.chap_reasserted, ["r1"]);
    let w = rig.fake.world.lock().unwrap();
    assert_eq!(w.chap.len(), 1, "{:?}", w.chap);
    assert!(
        w.chap
            .iter()
            .all(|(_, user)| user == "iqn.2026-01.com.example:server-a")
    );
}

#[tokio::test]
async fn a_compensation_undoes_only_what_its_own_request_created() {
    let rig = Rig::new();
    let m = rig.manager(4);
    m.provision(request("r1", "server-a", 5)).await.unwrap();
    // The initiator name server-b would get is recorded as r1's (a live request), and is
    // registered in iSNS.
    let theirs = "iqn.2026-01.com.example:server-b";
    Store::open(&rig.path)
        .unwrap()
        .claim(crate::store::OwnedKind::Initiator, theirs, "r1", "server-a")
        .unwrap();
    rig.fake
        .world
        .lock()
        .unwrap()
        .initiators
        .insert(theirs.to_owned());
    let err = m
        .provision(request("r2", "server-b", 5))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("created by request r1"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    let w = rig.fake.world.lock().unwrap();
    assert!(
        w.initiators.contains(theirs),
        "r2's rollback left r1's initiator alone"
    );
    let names: BTreeSet<&str> = w.dds.values().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["bcm:server-a"]),
        "r2's own DD was removed"
    );
}
