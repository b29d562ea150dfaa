//! The Redfish service's way into its BMC: requests sent to the BMC's own task, which
//! feeds them to the same boot-options store the IPMI side writes
//! ([`BmcCore::handle_local`]), performs the file work, and answers with a [`View`].
//!
//! The Redfish writes are the IPMI writes a console would send: the OEM records ending
//! with the control record (iSCSI parameters), Set Boot Flags (boot override), Chassis
//! Control (reset). One store, one set of renderers, one state file.

use std::time::Duration;

use ipmi_iscsi::bootopt::{BootFlags, BootParam, oem, set_request};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, chassis};
use ipmi_iscsi::params::{IscsiBootParams, PublicBootParams};
use ipmi_iscsi::store::ChassisState;
use tokio::sync::{mpsc, oneshot};

use crate::bmc::BmcCore;

/// One change to the BMC.
#[derive(Clone, PartialEq, Eq)]
pub enum Change {
    /// Write iSCSI boot parameters and enable them (the OEM dialect, all records).
    SetIscsi(Box<IscsiBootParams>),
    /// Disable iSCSI boot (the OEM control record, disabled).
    ClearIscsi,
    /// Set the boot flags (parameter 5).
    BootFlags(BootFlags),
    /// Chassis Control with this action byte.
    Chassis(u8),
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // IscsiBootParams' Debug redacts secrets; still, say only what kind.
            Self::SetIscsi(_) => f.write_str("SetIscsi"),
            Self::ClearIscsi => f.write_str("ClearIscsi"),
            Self::BootFlags(b) => f.debug_tuple("BootFlags").field(b).finish(),
            Self::Chassis(a) => f.debug_tuple("Chassis").field(a).finish(),
        }
    }
}

/// What the Redfish side reads of its BMC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// What firmware boots now (secrets removed), whichever dialect wrote it.
    pub booting: Option<PublicBootParams>,
    /// The secret-bearing OEM parameters, when enabled (a settings PATCH starts from them).
    pub oem: Option<IscsiBootParams>,
    /// Boot flags (parameter 5).
    pub boot_flags: BootFlags,
    /// Power and boot count.
    pub chassis: ChassisState,
}

/// A batch of changes (possibly none: a read) and where to answer.
#[derive(Debug)]
pub struct Call {
    /// Applied in order; the first refusal stops the batch.
    pub changes: Vec<Change>,
    /// The answer: the view after the changes, or why one was refused.
    pub reply: oneshot::Sender<Result<View, String>>,
}

/// The sending half a Redfish service holds.
pub type CallSender = mpsc::Sender<Call>;

/// Reads `core`.
#[must_use]
pub fn view(core: &BmcCore) -> View {
    let store = core.store();
    View {
        booting: core.flashed().artefacts().map(|a| a.public.clone()),
        oem: store
            .oem_enabled()
            .then(|| store.oem_params().ok())
            .flatten(),
        boot_flags: store.boot_flags(),
        chassis: store.chassis(),
    }
}

fn requests(change: &Change) -> Result<Vec<Request>, String> {
    let records: Vec<(BootParam, Vec<u8>)> = match change {
        // Confidential: the Redfish session is TLS, as an RMCP+ session with encryption is.
        Change::SetIscsi(p) => oem::encode_records(p, true, true).map_err(|e| e.to_string())?,
        Change::ClearIscsi => vec![(BootParam::OEM_CONTROL, oem::control_record(false).to_vec())],
        Change::BootFlags(f) => return Ok(vec![set_request(BootParam::BOOT_FLAGS, &f.encode())]),
        Change::Chassis(action) => {
            return Ok(vec![Request::new(
                NetFn::CHASSIS,
                chassis::CHASSIS_CONTROL,
                vec![*action],
            )]);
        }
    };
    let mut out = Vec::new();
    for (param, record) in records {
        for b in oem::record_to_blocks(&record).map_err(|e| e.to_string())? {
            out.push(set_request(param, &b.encode()));
        }
    }
    Ok(out)
}

/// Applies `changes` to `core` at wall-clock `wall`; the file work lands in the core's
/// effects (the caller performs them before answering).
///
/// # Errors
/// The first change the store refuses, with its completion code.
pub fn apply(core: &mut BmcCore, wall: Duration, changes: &[Change]) -> Result<View, String> {
    for change in changes {
        for r in requests(change)? {
            let response = core.handle_local(wall, &r);
            if response.completion != CompletionCode::OK {
                return Err(format!(
                    "the boot-options store refused the change (completion code {:#04x})",
                    response.completion.0
                ));
            }
        }
    }
    Ok(view(core))
}
