//! Provisioning plans: the ordered, idempotent steps that give a server its disk, each with the
//! step that undoes it; and the names those steps use.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::ledger::Allocation;
use crate::model::Portal;
use crate::names::{IscsiName, LunNumber, RequestId, ServerName};
use crate::request::AuthWanted;
use crate::secret::{CHAP_SECRET_LEN, ChapCredentials, ChapSecret, NotEnoughRandomness};

/// RFC 3720 §3.2.6.1: an iSCSI name is at most 223 bytes.
pub const MAX_ISCSI_NAME: usize = 223;

/// Why a name could not be generated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamingError {
    /// The naming-authority date is not a valid `yyyy-mm`.
    #[error("naming authority date {year:04}-{month:02} is not a valid yyyy-mm")]
    BadDate {
        /// Year.
        year: u16,
        /// Month.
        month: u8,
    },
    /// The domain is not a DNS name of letters, digits and hyphens.
    #[error("naming authority domain {domain:?} is not a DNS name (letters, digits, '-', '.')")]
    BadDomain {
        /// The domain given.
        domain: String,
    },
    /// The server name has no character usable in an iSCSI name.
    #[error("server name {server:?} has no letter or digit to build an initiator name from")]
    UnusableServerName {
        /// The server name.
        server: String,
    },
    /// The generated name is longer than 223 bytes.
    #[error(
        "generated name is {len} bytes, over the 223-byte iSCSI limit; shorten the server name"
    )]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The generated name is not a valid iSCSI name.
    #[error("generated initiator name is invalid: {0}")]
    Invalid(#[from] crate::names::IscsiNameError),
}

/// Initiator names `iqn.<yyyy-mm>.<reversed domain>:<server>` (RFC 3720 §3.2.6.3.1). The date is
/// when the domain was owned, a configuration value, not today's date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiatorNameScheme {
    year: u16,
    month: u8,
    reversed_domain: String,
}

/// Lower-case, and anything outside `[a-z0-9.-]` becomes `-` (RFC 3722 stringprep leaves these).
fn sanitise(s: &str) -> String {
    s.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl InitiatorNameScheme {
    /// A scheme for `domain` (written the usual way, e.g. `example.com`) owned since `year-month`.
    ///
    /// # Errors
    /// [`NamingError::BadDate`] or [`NamingError::BadDomain`].
    pub fn new(year: u16, month: u8, domain: &str) -> Result<Self, NamingError> {
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(NamingError::BadDate { year, month });
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if domain.is_empty() || !labels.iter().all(label_ok) {
            return Err(NamingError::BadDomain {
                domain: domain.to_owned(),
            });
        }
        let reversed_domain = labels
            .iter()
            .rev()
            .map(|l| l.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(".");
        Ok(Self {
            year,
            month,
            reversed_domain,
        })
    }

    /// The initiator name of `server`.
    ///
    /// # Errors
    /// [`NamingError::UnusableServerName`] or [`NamingError::TooLong`].
    pub fn initiator_for(&self, server: &ServerName) -> Result<IscsiName, NamingError> {
        let s = sanitise(server.as_str());
        if !s.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(NamingError::UnusableServerName {
                server: server.as_str().to_owned(),
            });
        }
        let name = format!(
            "iqn.{:04}-{:02}.{}:{s}",
            self.year, self.month, self.reversed_domain
        );
        if name.len() > MAX_ISCSI_NAME {
            return Err(NamingError::TooLong { len: name.len() });
        }
        Ok(IscsiName::new(name)?)
    }
}

/// The names the engine gives to what it creates for a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamingScheme {
    /// Initiator names.
    pub initiator: InitiatorNameScheme,
    /// Prefix of the DDs the manager names (`bcm:`); recovery looks at DDs with it, and removes
    /// one only when the manager's store records that it created it.
    pub dd_prefix: String,
}

impl NamingScheme {
    /// The DD name of `server`.
    ///
    /// # Errors
    /// [`NamingError::UnusableServerName`] as for the initiator name.
    pub fn dd_for(&self, server: &ServerName) -> Result<String, NamingError> {
        let s = sanitise(server.as_str());
        if !s.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(NamingError::UnusableServerName {
                server: server.as_str().to_owned(),
            });
        }
        Ok(format!("{}{s}", self.dd_prefix))
    }

    /// Whether a DD name is one of ours.
    #[must_use]
    pub fn owns_dd(&self, name: &str) -> bool {
        !self.dd_prefix.is_empty() && name.starts_with(&self.dd_prefix)
    }
}

/// One boot path the BMC is given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootPath {
    /// Target name.
    pub target: IscsiName,
    /// Portal to log in through.
    pub portal: Portal,
    /// LUN number.
    pub lun: LunNumber,
}

/// Everything the BMC step configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcBootSettings {
    /// The BMC address from the request.
    pub bmc: Option<String>,
    /// The server's boot NIC MAC.
    pub nic_mac: Option<String>,
    /// The generated initiator name.
    pub initiator: IscsiName,
    /// The primary boot path.
    pub primary: BootPath,
    /// The secondary boot path.
    pub secondary: Option<BootPath>,
    /// CHAP credentials, when authentication was asked for.
    pub chap: Option<ChapCredentials>,
}

/// The kind of a provisioning step, for resuming and for recovery reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StepKind {
    /// Hold the LUNs ([`Engine::reserve`](crate::Engine::reserve); already done when the plan exists).
    Reserve,
    /// Configure the CHAP account on the targets.
    SetTargetChap,
    /// Create the server's DD holding the target(s) and the initiator.
    CreateDd,
    /// Register the initiator node in iSNS.
    RegisterInitiator,
    /// Add the initiator to the DD. No longer planned (the DD is created with the initiator,
    /// see [`Action::CreateDd`]); kept so that reports and journals naming it still read.
    AddInitiatorToDd,
    /// Push boot parameters to the BMC.
    ConfigureBmc,
    /// [`Engine::commit`](crate::Engine::commit).
    Commit,
}

/// One thing the manager does. Every action must be idempotent on the manager's side (removing
/// something absent succeeds), so a plan can be resumed or rolled back after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Call [`Engine::reserve`](crate::Engine::reserve) with the request (idempotent by ID).
    Reserve {
        /// The request.
        request: RequestId,
    },
    /// Create the initiator's CHAP account on each target.
    SetTargetChap {
        /// Targets.
        targets: Vec<IscsiName>,
        /// Credentials.
        credentials: ChapCredentials,
    },
    /// Create a DD holding these members, added in one registration.
    CreateDd {
        /// DD name.
        dd_name: String,
        /// Members: the target(s), and in a provisioning plan the initiator last (registered
        /// by the step before), so each target is notified once per provisioning.
        targets: Vec<IscsiName>,
    },
    /// Register an initiator node on the server's behalf.
    RegisterInitiator {
        /// Initiator name.
        initiator: IscsiName,
        /// The server.
        server: ServerName,
    },
    /// Add a member to a DD.
    AddDdMember {
        /// DD name.
        dd_name: String,
        /// Member.
        member: IscsiName,
    },
    /// Push boot settings to the BMC.
    ConfigureBmc(Box<BmcBootSettings>),
    /// Call [`Engine::commit`](crate::Engine::commit).
    Commit {
        /// The request.
        request: RequestId,
    },
    /// Call [`Engine::release`](crate::Engine::release).
    Release {
        /// The request.
        request: RequestId,
    },
    /// Delete the initiator's CHAP account from each target.
    RemoveTargetChap {
        /// Targets.
        targets: Vec<IscsiName>,
        /// The CHAP user name.
        user: String,
    },
    /// Delete a DD.
    RemoveDd {
        /// DD name.
        dd_name: String,
    },
    /// Deregister an initiator node.
    DeregisterInitiator {
        /// Initiator name.
        initiator: IscsiName,
    },
    /// Remove a member from a DD.
    RemoveDdMember {
        /// DD name.
        dd_name: String,
        /// Member.
        member: IscsiName,
    },
    /// Clear the iSCSI boot settings on the BMC.
    ClearBmcBootConfig {
        /// The BMC address.
        bmc: Option<String>,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reserve { request } => write!(f, "reserve LUNs for {request}"),
            Self::SetTargetChap {
                targets,
                credentials,
            } => write!(
                f,
                "set CHAP account {} on {} target(s)",
                credentials.user,
                targets.len()
            ),
            Self::CreateDd { dd_name, targets } => {
                write!(f, "create DD {dd_name} with {} member(s)", targets.len())
            }
            Self::RegisterInitiator { initiator, server } => {
                write!(f, "register initiator {initiator} for {server}")
            }
            Self::AddDdMember { dd_name, member } => write!(f, "add {member} to DD {dd_name}"),
            Self::ConfigureBmc(s) => write!(
                f,
                "configure BMC {} to boot {} LUN {}",
                s.bmc.as_deref().unwrap_or("(none)"),
                s.primary.target,
                s.primary.lun
            ),
            Self::Commit { request } => write!(f, "commit {request}"),
            Self::Release { request } => write!(f, "release {request}"),
            Self::RemoveTargetChap { user, .. } => write!(f, "remove CHAP account {user}"),
            Self::RemoveDd { dd_name } => write!(f, "remove DD {dd_name}"),
            Self::DeregisterInitiator { initiator } => {
                write!(f, "deregister initiator {initiator}")
            }
            Self::RemoveDdMember { dd_name, member } => {
                write!(f, "remove {member} from DD {dd_name}")
            }
            Self::ClearBmcBootConfig { bmc } => {
                write!(
                    f,
                    "clear boot settings on BMC {}",
                    bmc.as_deref().unwrap_or("(none)")
                )
            }
        }
    }
}

/// One step and the action that undoes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedStep {
    /// Which step.
    pub kind: StepKind,
    /// What to do.
    pub action: Action,
    /// How to undo it (none for commit: undo a committed allocation with a release plan).
    pub compensation: Option<Action>,
}

/// The ordered steps that give one server its disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisioningPlan {
    /// The request.
    pub request: RequestId,
    /// The server.
    pub server: ServerName,
    /// Steps in execution order.
    pub steps: Vec<PlannedStep>,
}

impl ProvisioningPlan {
    /// Index of a step kind in this plan.
    #[must_use]
    pub fn position(&self, kind: StepKind) -> Option<usize> {
        self.steps.iter().position(|s| s.kind == kind)
    }

    /// The steps still to run after the first `completed` succeeded (resume).
    #[must_use]
    pub fn remaining(&self, completed: usize) -> &[PlannedStep] {
        self.steps.get(completed..).unwrap_or(&[])
    }

    /// The compensations to run, in order, after the first `completed` steps succeeded and the
    /// next one failed (roll back).
    #[must_use]
    pub fn rollback(&self, completed: usize) -> Vec<Action> {
        let done = self.steps.get(..completed).unwrap_or(&self.steps);
        done.iter()
            .rev()
            .filter_map(|s| s.compensation.clone())
            .collect()
    }
}

/// Builds the plan of an allocation.
pub(crate) fn provisioning_plan(
    a: &Allocation,
    random: &[u8],
) -> Result<ProvisioningPlan, NotEnoughRandomness> {
    let targets = targets_of(a);
    let chap = match a.request.auth {
        AuthWanted::None => None,
        AuthWanted::Chap | AuthWanted::MutualChap => {
            let mutual = a.request.auth == AuthWanted::MutualChap;
            let needed = if mutual {
                2 * CHAP_SECRET_LEN
            } else {
                CHAP_SECRET_LEN
            };
            if random.len() < needed {
                return Err(NotEnoughRandomness {
                    needed,
                    given: random.len(),
                });
            }
            let secret = ChapSecret::from_random(random)?;
            let mutual = if mutual {
                let s = ChapSecret::from_random(random.get(CHAP_SECRET_LEN..).unwrap_or(&[]))?;
                Some((a.selection.primary.lun.target.as_str().to_owned(), s))
            } else {
                None
            };
            Some(ChapCredentials {
                user: a.initiator.as_str().to_owned(),
                secret,
                mutual,
            })
        }
    };
    let comp = compensations(a);
    let path = |p: &crate::select::Placement| BootPath {
        target: p.lun.target.clone(),
        portal: p.portal,
        lun: p.lun.lun,
    };
    let mut steps = vec![PlannedStep {
        kind: StepKind::Reserve,
        action: Action::Reserve {
            request: a.id().clone(),
        },
        compensation: Some(comp.release),
    }];
    if let Some(credentials) = &chap {
        steps.push(PlannedStep {
            kind: StepKind::SetTargetChap,
            action: Action::SetTargetChap {
                targets: targets.clone(),
                credentials: credentials.clone(),
            },
            compensation: comp.chap,
        });
    }
    // The initiator is registered first, while no DD holds it (a change that notifies no
    // target), then the DD is created with the targets and the initiator in one registration:
    // one State Change Notification per target and provisioning, which is what a storage
    // system whose notifications must be spaced (tgtd) can take at a time.
    steps.push(PlannedStep {
        kind: StepKind::RegisterInitiator,
        action: Action::RegisterInitiator {
            initiator: a.initiator.clone(),
            server: a.server().clone(),
        },
        compensation: Some(comp.initiator),
    });
    let mut members = targets;
    members.push(a.initiator.clone());
    steps.push(PlannedStep {
        kind: StepKind::CreateDd,
        action: Action::CreateDd {
            dd_name: a.dd_name.clone(),
            targets: members,
        },
        compensation: Some(comp.dd),
    });
    steps.push(PlannedStep {
        kind: StepKind::ConfigureBmc,
        action: Action::ConfigureBmc(Box::new(BmcBootSettings {
            bmc: a.request.server.bmc.clone(),
            nic_mac: a.request.server.nic_mac.clone(),
            initiator: a.initiator.clone(),
            primary: path(&a.selection.primary),
            secondary: a.selection.secondary.as_ref().map(path),
            chap,
        })),
        compensation: Some(comp.bmc),
    });
    steps.push(PlannedStep {
        kind: StepKind::Commit,
        action: Action::Commit {
            request: a.id().clone(),
        },
        compensation: None,
    });
    Ok(ProvisioningPlan {
        request: a.id().clone(),
        server: a.server().clone(),
        steps,
    })
}

fn targets_of(a: &Allocation) -> Vec<IscsiName> {
    let mut t: Vec<IscsiName> = a.selection.luns().map(|l| l.target.clone()).collect();
    t.dedup();
    t
}

struct Compensations {
    release: Action,
    chap: Option<Action>,
    dd: Action,
    initiator: Action,
    bmc: Action,
}

fn compensations(a: &Allocation) -> Compensations {
    Compensations {
        release: Action::Release {
            request: a.id().clone(),
        },
        chap: (a.request.auth != AuthWanted::None).then(|| Action::RemoveTargetChap {
            targets: targets_of(a),
            user: a.initiator.as_str().to_owned(),
        }),
        dd: Action::RemoveDd {
            dd_name: a.dd_name.clone(),
        },
        initiator: Action::DeregisterInitiator {
            initiator: a.initiator.clone(),
        },
        bmc: Action::ClearBmcBootConfig {
            bmc: a.request.server.bmc.clone(),
        },
    }
}

/// The release plan of an allocation: every compensation of its provisioning plan, in reverse
/// order (BMC, DD, initiator, CHAP account, then the ledger release). Needs no secret. The DD
/// goes first, with the initiator in it: one notification per target; the initiator, then in
/// no DD, leaves without notifying any.
pub(crate) fn release_plan(a: &Allocation) -> Vec<Action> {
    let c = compensations(a);
    let mut v = vec![c.bmc, c.dd, c.initiator];
    v.extend(c.chap);
    v.push(c.release);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_only_where_sanitised_server_names_differ() {
        let scheme = InitiatorNameScheme::new(2026, 1, "example.com").unwrap();
        let name = |s: &str| scheme.initiator_for(&ServerName::new(s)).unwrap();
        // Case and punctuation fold: the manager refuses the second such server.
        assert_eq!(name("Q"), name("q"));
        assert_eq!(name("a/b"), name("a-b"));
        assert_ne!(name("a"), name("b"));
    }
}
