//! One emulated BMC, sans-IO: an RMCP+ [`Responder`] in front of a [`BootOptionsStore`],
//! with the BMC's identity commands, command logging, and the file work the store's
//! changes call for returned as [`Effect`]s (the tokio host performs them before it sends
//! the reply, so a client that got an answer finds the state on disk).
//!
//! ```text
//! datagram ─► Responder (session set-up, auth, decrypt) ─► BmcCore::handle_command
//!                                                            ├ App: device id, GUIDs
//!                                                            └ Chassis: BootOptionsStore
//!             store events ─► commit? ─► flash (render) ─► WriteArtefacts / RemoveArtefacts
//!             store changed? ─────────────────────────────► SaveState
//! ```
//! Time comes in twice: an [`Instant`] for RMCP+ session timeouts and the wall clock as a
//! [`Duration`] since the UNIX epoch for the store (its 60-second boot-flag timer survives
//! a restart that way).

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ipmi_iscsi::bootopt::{BootParam, Pen};
use ipmi_iscsi::ipmi::{CompletionCode, NetFn, Request, Response, app, chassis};
use ipmi_iscsi::rmcp::{Packet, PayloadType, Rakp1, RakpStatus, Responder};
use ipmi_iscsi::store::{BootOptionsStore, StoreEvent};
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::flash::{Flash, ParamsSource, flash};
use super::spec::BmcName;

/// File work a BMC asks its host to do.
#[derive(Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write the store's serialized state (secret-bearing JSON).
    SaveState(Zeroizing<Vec<u8>>),
    /// Write the rendered files.
    WriteArtefacts(Box<super::flash::Artefacts>),
    /// Remove the rendered files.
    RemoveArtefacts,
}

impl fmt::Debug for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SaveState(json) => write!(f, "SaveState(<{} bytes, secret>)", json.len()),
            Self::WriteArtefacts(a) => f.debug_tuple("WriteArtefacts").field(a).finish(),
            Self::RemoveArtefacts => f.write_str("RemoveArtefacts"),
        }
    }
}

/// The outcome of one datagram.
#[derive(Debug, Default)]
pub struct Handled {
    /// The datagram to send back to the sender, if any.
    pub reply: Option<Vec<u8>>,
    /// File work to do before sending it.
    pub effects: Vec<Effect>,
}

/// Parses a UUID's text form (`01234567-89ab-cdef-0123-456789abcdef`, either case,
/// hyphens optional) into its 16 bytes in the order they are written.
#[must_use]
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = text.trim().bytes().filter(|b| *b != b'-').collect();
    if digits.len() != 32 {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// A BMC GUID derived from its name (stable across restarts; enters the RAKP HMACs).
#[must_use]
pub fn guid_for(name: &BmcName) -> [u8; 16] {
    // Two FNV-1a passes with different offsets: stable, spread, no dependency.
    let fnv = |basis: u64| {
        name.as_str().bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_le_bytes());
    g[8..].copy_from_slice(&fnv(0x84222325_cbf29ce4).to_le_bytes());
    g
}

/// The part of a BMC behind the RMCP+ responder: store, identity, rendering decisions.
#[derive(Debug)]
pub struct BmcCore {
    name: BmcName,
    guid: [u8; 16],
    system_guid: [u8; 16],
    pen: Pen,
    store: BootOptionsStore,
    saved: BootOptionsStore,
    flashed: Flash,
    effects: Vec<Effect>,
}

fn command_name(netfn: NetFn, cmd: u8) -> &'static str {
    match (netfn, cmd) {
        (NetFn::CHASSIS, chassis::GET_CHASSIS_CAPABILITIES) => "get chassis capabilities",
        (NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS) => "get chassis status",
        (NetFn::CHASSIS, chassis::CHASSIS_CONTROL) => "chassis control",
        (NetFn::CHASSIS, chassis::CHASSIS_RESET) => "chassis reset",
        (NetFn::CHASSIS, chassis::CHASSIS_IDENTIFY) => "chassis identify",
        (NetFn::CHASSIS, chassis::SET_SYSTEM_BOOT_OPTIONS) => "set system boot options",
        (NetFn::CHASSIS, chassis::GET_SYSTEM_BOOT_OPTIONS) => "get system boot options",
        (NetFn::APP, app::GET_DEVICE_ID) => "get device id",
        (NetFn::APP, app::GET_DEVICE_GUID) => "get device guid",
        (NetFn::APP, app::GET_SYSTEM_GUID) => "get system guid",
        _ => "unsupported",
    }
}

impl BmcCore {
    /// A BMC named `name` serving `store`; mailbox parameters are read under `pen`.
    #[must_use]
    pub fn new(name: BmcName, store: BootOptionsStore, pen: Pen) -> Self {
        let guid = guid_for(&name);
        Self {
            guid,
            system_guid: guid,
            name,
            pen,
            saved: store.clone(),
            store,
            flashed: Flash::Nothing,
            effects: Vec::new(),
        }
    }

    /// Reports `uuid` (the host's SMBIOS UUID, bytes in the order its text is written) in
    /// Get System GUID, in SMBIOS byte order (the first three fields little-endian), as
    /// pyghmi and OpenBMC do.
    pub fn set_system_uuid(&mut self, uuid: [u8; 16]) {
        let mut b = uuid;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        self.system_guid = b;
    }

    /// The BMC's name.
    #[must_use]
    pub fn name(&self) -> &BmcName {
        &self.name
    }

    /// The boot-options store.
    #[must_use]
    pub fn store(&self) -> &BootOptionsStore {
        &self.store
    }

    /// What is flashed for firmware now.
    #[must_use]
    pub fn flashed(&self) -> &Flash {
        &self.flashed
    }

    /// Renders the loaded state at start-up: writes the files, or removes stale ones.
    pub fn start(&mut self) -> Vec<Effect> {
        self.reflash(true);
        core::mem::take(&mut self.effects)
    }

    /// Handles one authenticated application request at wall-clock `wall`; the effects
    /// are collected for [`BmcCore::take_effects`].
    pub fn handle_command(
        &mut self,
        wall: Duration,
        session_id: u32,
        username: &[u8],
        request: &Request,
    ) -> Response {
        let response = match (request.netfn, request.cmd) {
            (NetFn::APP, app::GET_DEVICE_ID) if request.data.is_empty() => {
                let [m0, m1, m2] = self.pen.to_bytes();
                // IPMI v2.0 §20.1: device 0x20, revision 1, firmware 1.00 (normal
                // operation), IPMI 2.0, chassis device, manufacturer = our PEN, product 1.
                Response::ok([0x20, 0x01, 0x01, 0x00, 0x02, 0x80, m0, m1, m2, 0x01, 0x00])
            }
            (NetFn::APP, app::GET_DEVICE_GUID) if request.data.is_empty() => {
                Response::ok(self.guid)
            }
            (NetFn::APP, app::GET_SYSTEM_GUID) if request.data.is_empty() => {
                Response::ok(self.system_guid)
            }
            (NetFn::APP, app::GET_DEVICE_ID | app::GET_DEVICE_GUID | app::GET_SYSTEM_GUID) => {
                Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID)
            }
            (NetFn::CHASSIS, _) => self.store.handle(wall, request),
            _ => Response::error(CompletionCode::INVALID_COMMAND),
        };
        self.log_command(session_id, username, request, response.completion);
        self.after_store_work();
        response
    }

    /// Handles a chassis request from the BMC's own side (its Redfish service) rather than
    /// over RMCP+: the same store, logging and rendering as an IPMI client's request.
    pub fn handle_local(&mut self, wall: Duration, request: &Request) -> Response {
        let response = match request.netfn {
            NetFn::CHASSIS => self.store.handle(wall, request),
            _ => Response::error(CompletionCode::INVALID_COMMAND),
        };
        self.log_command(0, b"(redfish)", request, response.completion);
        self.after_store_work();
        response
    }

    /// Applies the store's timers at `wall` (the 60-second boot-flag timeout).
    pub fn handle_timeout(&mut self, wall: Duration) {
        self.store.handle_timeout(wall);
        self.after_store_work();
    }

    /// When [`BmcCore::handle_timeout`] should run next (wall clock since the UNIX epoch).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.store.poll_timeout()
    }

    /// The file work collected so far.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        core::mem::take(&mut self.effects)
    }

    fn log_command(&self, session_id: u32, username: &[u8], r: &Request, cc: CompletionCode) {
        let bmc = self.name.as_str();
        let session = format_args!("{session_id:#010x}");
        let user = String::from_utf8_lossy(username);
        let command = command_name(r.netfn, r.cmd);
        let cmd = format_args!("{:#04x}", r.cmd);
        let cc = format_args!("{:#04x}", cc.0);
        match (r.netfn, r.cmd, r.data.as_slice()) {
            (
                NetFn::CHASSIS,
                chassis::SET_SYSTEM_BOOT_OPTIONS | chassis::GET_SYSTEM_BOOT_OPTIONS,
                [sel, rest @ ..],
            ) => {
                let param = BootParam(sel & BootParam::MAX);
                // Block-addressed parameters: the mailbox and the OEM records (set
                // selector on Get, first data byte on Set). Data bytes are never logged.
                let block = (param == BootParam::BOOT_INITIATOR_MAILBOX || param.is_oem())
                    .then(|| rest.first().copied())
                    .flatten();
                if let Some(block) = block {
                    info!(bmc, session = %session, %user, netfn = "chassis", %cmd, command,
                        param = param.0, block, cc = %cc, "command");
                } else {
                    info!(bmc, session = %session, %user, netfn = "chassis", %cmd, command,
                        param = param.0, cc = %cc, "command");
                }
            }
            (NetFn::CHASSIS, chassis::CHASSIS_CONTROL, [action]) => {
                info!(bmc, session = %session, %user, netfn = "chassis", %cmd, command,
                    action = *action, cc = %cc, "command");
            }
            _ => {
                let netfn = r.netfn.name().unwrap_or("unknown");
                info!(bmc, session = %session, %user, netfn, %cmd, command, cc = %cc, "command");
            }
        }
    }

    fn after_store_work(&mut self) {
        let mut commit = false;
        while let Some(e) = self.store.poll_event() {
            let bmc = self.name.as_str();
            match e {
                StoreEvent::Changed(p) => {
                    debug!(bmc, param = p.0, "parameter changed");
                    commit |= p == BootParam::SET_IN_PROGRESS || p == BootParam::BOOT_FLAGS;
                }
                StoreEvent::OemCommitted { enabled } => {
                    info!(bmc, enabled, "oem iscsi parameters committed");
                    commit = true;
                }
                StoreEvent::FlagsExpired => {
                    info!(
                        bmc,
                        "boot flags valid bit cleared after 60 s without chassis control"
                    );
                }
                StoreEvent::Chassis(action) => {
                    info!(bmc, action = chassis_words(action), "chassis control");
                }
                StoreEvent::Boot { flags } => {
                    let root_path = self
                        .flashed
                        .artefacts()
                        .map_or("none", |a| a.root_path.trim_end());
                    info!(bmc, device = %flags.device, valid = flags.valid,
                        persistent = flags.persistent, efi = flags.efi, root_path,
                        "boot: host powered up or reset");
                }
                _ => debug!(bmc, "store event"),
            }
        }
        if self.store != self.saved {
            match serde_json::to_vec(&self.store) {
                Ok(json) => {
                    self.effects.push(Effect::SaveState(Zeroizing::new(json)));
                    self.saved = self.store.clone();
                }
                Err(e) => warn!(bmc = self.name.as_str(), error = %e, "cannot serialize state"),
            }
        }
        if commit {
            self.reflash(false);
        }
    }

    fn reflash(&mut self, force: bool) {
        let next = flash(&self.name, &self.store, self.pen);
        if !force && next == self.flashed {
            return;
        }
        let bmc = self.name.as_str();
        match &next {
            Flash::Render(a) => {
                info!(
                    bmc,
                    source = source_words(a.source),
                    root_path = a.root_path.trim_end(),
                    initiator = a.public.initiator_name.as_str(),
                    "rendered boot files"
                );
                self.effects.push(Effect::WriteArtefacts(a.clone()));
            }
            Flash::Unrenderable { source, reason } => {
                warn!(
                    bmc,
                    source = source_words(*source),
                    reason = reason.as_str(),
                    "stored parameters cannot be rendered; boot files removed"
                );
                self.effects.push(Effect::RemoveArtefacts);
            }
            Flash::Nothing => {
                if !force {
                    info!(bmc, "iscsi boot parameters cleared; boot files removed");
                }
                self.effects.push(Effect::RemoveArtefacts);
            }
        }
        self.flashed = next;
    }
}

/// One emulated BMC: responder plus core.
pub struct EmulatedBmc {
    addr: SocketAddr,
    responder: Responder,
    core: BmcCore,
}

impl fmt::Debug for EmulatedBmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatedBmc")
            .field("name", self.core.name())
            .field("addr", &self.addr)
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}

fn setup_step(ty: PayloadType) -> &'static str {
    match ty {
        PayloadType::OPEN_SESSION_REQUEST => "open session",
        PayloadType::RAKP1 => "rakp 1",
        PayloadType::RAKP3 => "rakp 3",
        _ => "session-less",
    }
}

impl EmulatedBmc {
    /// A BMC listening on `addr`.
    #[must_use]
    pub fn new(addr: SocketAddr, responder: Responder, core: BmcCore) -> Self {
        Self {
            addr,
            responder,
            core,
        }
    }

    /// Its address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &BmcName {
        self.core.name()
    }

    /// The core (store, flash state).
    #[must_use]
    pub fn core(&self) -> &BmcCore {
        &self.core
    }

    /// The core, for requests from the BMC's own side (see [`BmcCore::handle_local`]).
    pub fn core_mut(&mut self) -> &mut BmcCore {
        &mut self.core
    }

    /// The responder (session counts).
    #[must_use]
    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    /// Start-up effects (see [`BmcCore::start`]).
    pub fn start(&mut self) -> Vec<Effect> {
        self.core.start()
    }

    /// Handles one datagram of an unknown sender at `now` (session clock) and `wall` (store
    /// clock); see [`EmulatedBmc::handle_datagram_from`].
    pub fn handle_datagram(&mut self, now: Instant, wall: Duration, datagram: &[u8]) -> Handled {
        self.handle(now, wall, None, datagram)
    }

    /// Handles one datagram from `from` at `now` (session clock) and `wall` (store clock).
    /// The sender tells a console's retransmitted Open Session Request from a stranger's.
    pub fn handle_datagram_from(
        &mut self,
        now: Instant,
        wall: Duration,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Handled {
        self.handle(now, wall, Some(from), datagram)
    }

    fn handle(
        &mut self,
        now: Instant,
        wall: Duration,
        from: Option<SocketAddr>,
        datagram: &[u8],
    ) -> Handled {
        let before = self.responder.active_sessions();
        // Session set-up steps travel in the clear: note the step (and, for RAKP 1, the
        // user name; for RAKP 3, the console's status) to log refusals.
        let incoming_setup = match Packet::decode(datagram) {
            Ok(Packet::V2(p)) if p.session_id == 0 && p.payload_type != PayloadType::IPMI => {
                let user = (p.payload_type == PayloadType::RAKP1)
                    .then(|| Rakp1::decode(p.payload).ok())
                    .flatten()
                    .map(|r| String::from_utf8_lossy(&r.username).into_owned());
                let console_status = (p.payload_type == PayloadType::RAKP3)
                    .then(|| p.payload.get(1).copied())
                    .flatten()
                    .map(RakpStatus);
                Some((p.payload_type, user, console_status))
            }
            _ => None,
        };
        let core = &mut self.core;
        let dispatch = |incoming: &ipmi_iscsi::rmcp::Incoming<'_>| {
            core.handle_command(
                wall,
                incoming.session_id,
                incoming.username,
                &incoming.request,
            )
        };
        let result = match from {
            Some(from) => self
                .responder
                .handle_datagram_from(now, from, datagram, dispatch),
            None => self.responder.handle_datagram(now, datagram, dispatch),
        };
        let bmc = self.core.name().as_str();
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                debug!(bmc, reason = %e, "datagram dropped");
                None
            }
        };
        if let Some((ty, user, console_status)) = &incoming_setup {
            let step = setup_step(*ty);
            let status = reply.as_deref().and_then(|r| match Packet::decode(r) {
                Ok(Packet::V2(p)) => p.payload.get(1).copied().map(RakpStatus),
                _ => None,
            });
            match (status, console_status) {
                (_, Some(c)) if *c != RakpStatus::OK => {
                    warn!(bmc, step, status = %c,
                        "session set-up refused by the console (its password differs?)");
                }
                (Some(s), _) if s != RakpStatus::OK => {
                    warn!(bmc, step, user = user.as_deref().unwrap_or(""), status = %s,
                        "session set-up refused");
                }
                _ => debug!(bmc, step, "session set-up step handled"),
            }
        }
        let after = self.responder.active_sessions();
        if after > before {
            info!(bmc, active = after, "session established");
        } else if after < before {
            info!(bmc, active = after, "session ended (closed or timed out)");
        }
        Handled {
            reply,
            effects: self.core.take_effects(),
        }
    }

    /// Applies timers at `now` / `wall` (session expiry, boot-flag timeout).
    pub fn handle_timeout(&mut self, now: Instant, wall: Duration) -> Vec<Effect> {
        let before = self.responder.active_sessions();
        self.responder.expire(now);
        if self.responder.active_sessions() < before {
            info!(
                bmc = self.core.name().as_str(),
                active = self.responder.active_sessions(),
                "session ended (timed out)"
            );
        }
        self.core.handle_timeout(wall);
        self.core.take_effects()
    }

    /// The next wall-clock deadline of the store's timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.core.poll_timeout()
    }
}

/// A chassis control action in words, for the log.
fn chassis_words(a: ipmi_iscsi::store::ChassisAction) -> &'static str {
    use ipmi_iscsi::store::ChassisAction as A;
    match a {
        A::PowerDown => "power down",
        A::PowerUp => "power up",
        A::PowerCycle => "power cycle",
        A::HardReset => "hard reset",
        A::PulseDiag => "diagnostic interrupt",
        A::SoftShutdown => "soft shutdown",
    }
}

/// Where rendered parameters came from, in words, for the log.
fn source_words(s: ParamsSource) -> &'static str {
    match s {
        ParamsSource::Oem => "OEM parameters 96-127",
        ParamsSource::Mailbox => "boot initiator mailbox (parameter 7)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_guid_is_derived_or_the_given_uuid_in_smbios_order() {
        let name = BmcName::of("127.0.0.1:9001".parse().unwrap());
        let store = BootOptionsStore::new(ipmi_iscsi::store::StoreConfig::default());
        let mut core = BmcCore::new(name.clone(), store, Pen::EXAMPLE);
        let ask = Request::new(NetFn::APP, app::GET_SYSTEM_GUID, []);
        let derived = core.handle_command(Duration::ZERO, 1, b"admin", &ask);
        assert_eq!(derived.data, guid_for(&name));
        let uuid = parse_uuid("5A1B2C3D-4e5f-4a6b-8c7d-0e1f2a3b4c5d").unwrap();
        assert_eq!(uuid[..4], [0x5a, 0x1b, 0x2c, 0x3d]);
        core.set_system_uuid(uuid);
        let r = core.handle_command(Duration::ZERO, 1, b"admin", &ask);
        // SMBIOS order: time_low, time_mid, time_hi little-endian; the rest as written.
        assert_eq!(
            r.data,
            [
                0x3d, 0x2c, 0x1b, 0x5a, 0x5f, 0x4e, 0x6b, 0x4a, 0x8c, 0x7d, 0x0e, 0x1f, 0x2a, 0x3b,
                0x4c, 0x5d
            ]
        );
        for bad in ["", "5a1b2c3d", "zz1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
        // The device GUID (RAKP) stays derived.
        let dev = core.handle_command(
            Duration::ZERO,
            1,
            b"admin",
            &Request::new(NetFn::APP, app::GET_DEVICE_GUID, []),
        );
        assert_eq!(dev.data, guid_for(&name));
    }
}
