//! The BMC side: a sans-IO System Boot Options store with chassis power state.
//!
//! [`BootOptionsStore::handle`] takes an IPMI [`Request`] (after the RMCP+ responder has
//! authenticated and decrypted it) and returns the [`Response`]; time comes in as an
//! argument (a [`Duration`] since any fixed origin the caller keeps, e.g. the UNIX epoch
//! so that persisted state survives restarts). Semantics (IPMI v2.0 §28.12–28.13):
//!
//! * parameter 0: set complete → set in progress; setting "in progress" while not complete
//!   is 0x81; commit write (2) accepted; 3 is reserved (0xCC);
//! * parameter 3: "don't clear valid bit" flags; the boot-flags valid bit is cleared 60 s
//!   after parameter 5 was written with it set unless bit 3 is set or a Chassis Control
//!   command arrived in between;
//! * parameter 4: write mask + handled bits; parameter 5: boot flags (consumed by a boot
//!   when not persistent); parameter 6: 9 bytes; parameter 7: the configured number of
//!   16-byte blocks, 0xC9 past the end; OEM 0x60 (read-only, 0x82 on Set), 0x62–0x6B the
//!   OEM iSCSI records ([`crate::bootopt::oem`]); anything else 0x80; wrong lengths 0xC7;
//! * Chassis Control (power down/up/cycle/hard reset/pulse diag/soft off) and Get Chassis
//!   Status; a power up, cycle or reset is a boot ([`StoreEvent::Boot`]).
//!
//! [`StoreConfig`] switches parameters 0/3/4 and the OEM dialect off (to emulate BMCs
//! without them) and can make the store acknowledge writes without storing them (a
//! faulty BMC, for testing read-back). The state is `serde`-persistable; it contains the
//! CHAP secrets written through the OEM dialect, so store it like a secret (its `Debug`
//! redacts them).

use std::collections::VecDeque;
use std::time::Duration;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::bootopt::oem::{self, OemReadBack};
use crate::bootopt::{
    BLOCK_LEN, Block, BootFlags, BootInfoAck, BootParam, DecodeError, GetResponse, Pen,
    SetInProgress, ValidBitClearing, mailbox,
};
use crate::ipmi::{CompletionCode, NetFn, Request, Response, chassis};
use crate::params::{
    AuthSummary, Authentication, ChapCredentials, IscsiBootParams, PublicBootParams, Secret,
};

/// How long boot flags stay valid without a Chassis Control command (IPMI v2.0 §28.12).
pub const VALID_BIT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the emulated BMC supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct StoreConfig {
    /// Mailbox blocks (1..=256; the spec asks for at least 5).
    pub mailbox_blocks: u16,
    /// Parameter 0 implemented (else 0x80).
    pub set_in_progress: bool,
    /// Parameter 3 implemented (else 0x80).
    pub valid_bit_clearing: bool,
    /// Parameter 4 implemented (else 0x80).
    pub boot_info_ack: bool,
    /// OEM iSCSI parameters implemented (else 0x80).
    pub oem: bool,
    /// Fault injection: answer 0x00 to writes of parameters 5, 7 and the OEM records
    /// without storing them (a BMC that acknowledges but ignores).
    pub ignore_writes: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            mailbox_blocks: 16,
            set_in_progress: true,
            valid_bit_clearing: true,
            boot_info_ack: true,
            oem: true,
            ignore_writes: false,
        }
    }
}

/// Chassis Control actions (IPMI v2.0 §28.3, data byte bits 3:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum ChassisAction {
    /// 0: power down.
    PowerDown,
    /// 1: power up.
    PowerUp,
    /// 2: power cycle.
    PowerCycle,
    /// 3: hard reset.
    HardReset,
    /// 4: pulse diagnostic interrupt.
    PulseDiag,
    /// 5: soft shutdown via ACPI.
    SoftShutdown,
}

impl ChassisAction {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b & 0x0f {
            0 => Self::PowerDown,
            1 => Self::PowerUp,
            2 => Self::PowerCycle,
            3 => Self::HardReset,
            4 => Self::PulseDiag,
            5 => Self::SoftShutdown,
            _ => return None,
        })
    }
}

/// Something the embedding BMC emulator may act on (render, log, persist).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// A boot-options parameter changed (outside set-in-progress, or at set complete).
    Changed(BootParam),
    /// The OEM control record was written and accepted.
    OemCommitted {
        /// Enable bit.
        enabled: bool,
    },
    /// The 60-second timeout cleared the boot-flags valid bit.
    FlagsExpired,
    /// A chassis action was performed.
    Chassis(ChassisAction),
    /// The host "boots" (power up, cycle, reset) with these flags.
    Boot {
        /// Boot flags in force for this boot (valid bit may be clear).
        flags: BootFlags,
    },
}

/// The record slots of the OEM dialect, control first.
const OEM_SLOTS: [BootParam; 10] = [
    BootParam::OEM_CONTROL,
    BootParam::OEM_INITIATOR_NAME,
    BootParam::OEM_INITIATOR_NETWORK,
    BootParam::OEM_PRIMARY_PORTAL,
    BootParam::OEM_PRIMARY_NAME,
    BootParam::OEM_SECONDARY_PORTAL,
    BootParam::OEM_SECONDARY_NAME,
    BootParam::OEM_AUTH,
    BootParam::OEM_CHAP_SECRET,
    BootParam::OEM_REVERSE_CHAP_SECRET,
];
const OEM_AREA: usize = oem::MAX_RECORD_BLOCKS * BLOCK_LEN;

fn oem_slot(p: BootParam) -> Option<usize> {
    OEM_SLOTS.iter().position(|&q| q == p)
}

/// Chassis power state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ChassisState {
    /// Power is on.
    pub power_on: bool,
    /// Boots performed (power up, cycle, reset).
    pub boots: u64,
    /// Last action received.
    pub last_action: Option<ChassisAction>,
}

/// The boot-options store of one emulated BMC.
///
/// Equality and serde cover the persistent state only: events not yet polled are
/// transient (they are neither persisted nor compared). Deserializing checks the shapes the
/// store relies on (mailbox size, OEM slots and their length), so a damaged saved state is
/// an error, not a store that panics later.
#[derive(Clone)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "StoreFields"))]
pub struct BootOptionsStore {
    config: StoreConfig,
    set_in_progress: SetInProgress,
    service_partition: u8,
    service_scan: u8,
    valid_bit_clearing: ValidBitClearing,
    ack: BootInfoAck,
    flags: [u8; 5],
    flags_set_at: Option<Duration>,
    initiator_info: [u8; 9],
    mailbox: Vec<[u8; BLOCK_LEN]>,
    oem: Vec<Vec<u8>>,
    /// Bit n: parameter n marked invalid/locked (Set with bit 7).
    invalid: u128,
    chassis: ChassisState,
    #[cfg_attr(feature = "serde", serde(skip))]
    events: VecDeque<StoreEvent>,
}

/// The fields of a saved [`BootOptionsStore`], before their shapes are checked.
#[cfg_attr(feature = "serde", derive(Deserialize))]
#[cfg(feature = "serde")]
struct StoreFields {
    config: StoreConfig,
    set_in_progress: SetInProgress,
    service_partition: u8,
    service_scan: u8,
    valid_bit_clearing: ValidBitClearing,
    ack: BootInfoAck,
    flags: [u8; 5],
    flags_set_at: Option<Duration>,
    initiator_info: [u8; 9],
    mailbox: Vec<[u8; BLOCK_LEN]>,
    oem: Vec<Vec<u8>>,
    invalid: u128,
    chassis: ChassisState,
}

#[cfg(feature = "serde")]
impl TryFrom<StoreFields> for BootOptionsStore {
    type Error = String;

    fn try_from(f: StoreFields) -> Result<Self, String> {
        if !(1..=256).contains(&f.mailbox.len()) {
            return Err(format!(
                "mailbox has {} blocks, expected 1..=256",
                f.mailbox.len()
            ));
        }
        if usize::from(f.config.mailbox_blocks) != f.mailbox.len() {
            return Err(format!(
                "config.mailbox_blocks {} differs from the mailbox size {}",
                f.config.mailbox_blocks,
                f.mailbox.len()
            ));
        }
        if f.oem.len() != OEM_SLOTS.len() {
            return Err(format!(
                "oem has {} entries, expected {}",
                f.oem.len(),
                OEM_SLOTS.len()
            ));
        }
        if let Some(i) = f.oem.iter().position(|row| row.len() != OEM_AREA) {
            return Err(format!("oem[{i}] is not a list of {OEM_AREA} bytes"));
        }
        Ok(Self {
            config: f.config,
            set_in_progress: f.set_in_progress,
            service_partition: f.service_partition,
            service_scan: f.service_scan,
            valid_bit_clearing: f.valid_bit_clearing,
            ack: f.ack,
            flags: f.flags,
            flags_set_at: f.flags_set_at,
            initiator_info: f.initiator_info,
            mailbox: f.mailbox,
            oem: f.oem,
            invalid: f.invalid,
            chassis: f.chassis,
            events: VecDeque::new(),
        })
    }
}

impl PartialEq for BootOptionsStore {
    fn eq(&self, other: &Self) -> bool {
        // Destructured so that a new field cannot be forgotten here.
        let Self {
            config,
            set_in_progress,
            service_partition,
            service_scan,
            valid_bit_clearing,
            ack,
            flags,
            flags_set_at,
            initiator_info,
            mailbox,
            oem,
            invalid,
            chassis,
            events: _,
        } = self;
        *config == other.config
            && *set_in_progress == other.set_in_progress
            && *service_partition == other.service_partition
            && *service_scan == other.service_scan
            && *valid_bit_clearing == other.valid_bit_clearing
            && *ack == other.ack
            && *flags == other.flags
            && *flags_set_at == other.flags_set_at
            && *initiator_info == other.initiator_info
            && *mailbox == other.mailbox
            && *oem == other.oem
            && *invalid == other.invalid
            && *chassis == other.chassis
    }
}

impl Eq for BootOptionsStore {}

impl core::fmt::Debug for BootOptionsStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BootOptionsStore")
            .field("config", &self.config)
            .field("set_in_progress", &self.set_in_progress)
            .field("valid_bit_clearing", &self.valid_bit_clearing)
            .field("flags", &BootFlags::decode(&self.flags).ok())
            .field("flags_set_at", &self.flags_set_at)
            .field("mailbox_blocks", &self.mailbox.len())
            .field("oem", &"<records, secrets redacted>")
            .field("chassis", &self.chassis)
            .finish_non_exhaustive()
    }
}

/// Longest event queue kept (oldest dropped): an embedder that never polls cannot make
/// the store grow without bound.
const MAX_EVENTS: usize = 64;

impl BootOptionsStore {
    /// An empty store (power off, no flags, zeroed mailbox and records).
    pub fn new(config: StoreConfig) -> Self {
        let blocks = usize::from(config.mailbox_blocks.clamp(1, 256));
        Self {
            config: StoreConfig {
                mailbox_blocks: u16::try_from(blocks).unwrap_or(256),
                ..config
            },
            set_in_progress: SetInProgress::Complete,
            service_partition: 0,
            service_scan: 0,
            valid_bit_clearing: ValidBitClearing::empty(),
            ack: BootInfoAck::default(),
            flags: [0; 5],
            flags_set_at: None,
            initiator_info: [0; 9],
            mailbox: vec![[0; BLOCK_LEN]; blocks],
            oem: vec![vec![0; OEM_AREA]; OEM_SLOTS.len()],
            invalid: 0,
            chassis: ChassisState::default(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Changes the configuration (e.g. a fault switched on mid-test). The mailbox keeps its
    /// size.
    pub fn set_config(&mut self, config: StoreConfig) {
        self.config = StoreConfig {
            mailbox_blocks: self.config.mailbox_blocks,
            ..config
        };
    }

    /// Current boot flags.
    pub fn boot_flags(&self) -> BootFlags {
        BootFlags::decode(&self.flags).unwrap_or_default()
    }

    /// Current parameter 3.
    pub fn valid_bit_clearing(&self) -> ValidBitClearing {
        self.valid_bit_clearing
    }

    /// Current parameter 0 state.
    pub fn set_in_progress(&self) -> SetInProgress {
        self.set_in_progress
    }

    /// Chassis state.
    pub fn chassis(&self) -> ChassisState {
        self.chassis
    }

    /// Mailbox contents.
    pub fn mailbox(&self) -> &[[u8; BLOCK_LEN]] {
        &self.mailbox
    }

    /// Next event for the embedder.
    pub fn poll_event(&mut self) -> Option<StoreEvent> {
        self.events.pop_front()
    }

    /// When [`BootOptionsStore::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.timer_armed() {
            self.flags_set_at
                .map(|t| t.saturating_add(VALID_BIT_TIMEOUT))
        } else {
            None
        }
    }

    fn timer_armed(&self) -> bool {
        self.flags[0] & 0x80 != 0
            && !self
                .valid_bit_clearing
                .contains(ValidBitClearing::DONT_CLEAR_ON_TIMEOUT)
    }

    /// Applies the 60-second valid-bit timeout at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let Some(deadline) = self.poll_timeout()
            && now >= deadline
        {
            self.flags[0] &= !0x80;
            self.flags_set_at = None;
            self.push(StoreEvent::FlagsExpired);
        }
    }

    fn push(&mut self, e: StoreEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn changed(&mut self, p: BootParam) {
        if self.set_in_progress == SetInProgress::Complete {
            self.push(StoreEvent::Changed(p));
        }
    }

    /// Handles one IPMI request addressed to the BMC at `now`.
    pub fn handle(&mut self, now: Duration, request: &Request) -> Response {
        self.handle_timeout(now);
        if request.netfn != NetFn::CHASSIS {
            return Response::error(CompletionCode::INVALID_COMMAND);
        }
        match request.cmd {
            chassis::GET_CHASSIS_STATUS => self.chassis_status(&request.data),
            chassis::CHASSIS_CONTROL => self.chassis_control(&request.data),
            // A bare completion code: Set answers carry no data.
            chassis::SET_SYSTEM_BOOT_OPTIONS => Response::error(self.set(now, &request.data)),
            chassis::GET_SYSTEM_BOOT_OPTIONS => self.get(&request.data),
            _ => Response::error(CompletionCode::INVALID_COMMAND),
        }
    }

    fn chassis_status(&self, data: &[u8]) -> Response {
        if !data.is_empty() {
            return Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID);
        }
        // byte 1: [0] power on, [6:5] restore policy (0 = stay off); byte 2: last power
        // event (none recorded); byte 3: misc chassis state.
        Response::ok([u8::from(self.chassis.power_on), 0, 0])
    }

    fn chassis_control(&mut self, data: &[u8]) -> Response {
        let [b] = data else {
            return Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID);
        };
        let Some(action) = ChassisAction::from_byte(*b).filter(|_| b & 0xf0 == 0) else {
            return Response::error(CompletionCode::INVALID_DATA_FIELD);
        };
        // §28.12: a Chassis Control command stops the 60-second valid-bit timer.
        self.flags_set_at = None;
        self.chassis.last_action = Some(action);
        self.push(StoreEvent::Chassis(action));
        let boots = match action {
            ChassisAction::PowerDown | ChassisAction::SoftShutdown => {
                self.chassis.power_on = false;
                false
            }
            ChassisAction::PowerUp => {
                let was_off = !self.chassis.power_on;
                self.chassis.power_on = true;
                was_off
            }
            ChassisAction::PowerCycle | ChassisAction::HardReset => {
                self.chassis.power_on = true;
                true
            }
            ChassisAction::PulseDiag => false,
        };
        if boots {
            self.chassis.boots = self.chassis.boots.saturating_add(1);
            let flags = self.boot_flags();
            self.push(StoreEvent::Boot { flags });
            // Firmware consumes one-shot flags: clear the valid bit unless persistent.
            if flags.valid && !flags.persistent {
                self.flags[0] &= !0x80;
            }
        }
        Response::ok([])
    }

    fn set(&mut self, now: Duration, data: &[u8]) -> CompletionCode {
        let [sel, body @ ..] = data else {
            return CompletionCode::REQUEST_DATA_LENGTH_INVALID;
        };
        let param = BootParam(sel & BootParam::MAX);
        let cc = self.set_param(now, param, body);
        if cc.is_ok() {
            let bit = 1u128 << (param.0 & BootParam::MAX);
            if sel & 0x80 != 0 {
                self.invalid |= bit;
            } else {
                self.invalid &= !bit;
            }
        }
        cc
    }

    fn set_param(&mut self, now: Duration, param: BootParam, body: &[u8]) -> CompletionCode {
        let len_is = |n: usize| body.len() == n;
        let bad_len = CompletionCode::REQUEST_DATA_LENGTH_INVALID;
        let ignore = self.config.ignore_writes;
        match param {
            BootParam::SET_IN_PROGRESS => {
                if !self.config.set_in_progress {
                    return CompletionCode::BOOT_PARAM_NOT_SUPPORTED;
                }
                let Ok(v) = SetInProgress::decode(body) else {
                    return if len_is(1) {
                        CompletionCode::INVALID_DATA_FIELD
                    } else {
                        bad_len
                    };
                };
                match v {
                    SetInProgress::InProgress
                        if self.set_in_progress != SetInProgress::Complete =>
                    {
                        return CompletionCode::BOOT_PARAM_SET_IN_PROGRESS;
                    }
                    SetInProgress::Complete if self.set_in_progress != SetInProgress::Complete => {
                        self.set_in_progress = v;
                        self.push(StoreEvent::Changed(BootParam::SET_IN_PROGRESS));
                    }
                    _ => self.set_in_progress = v,
                }
                CompletionCode::OK
            }
            BootParam::SERVICE_PARTITION_SELECTOR => {
                let [v] = body else { return bad_len };
                self.service_partition = *v;
                self.changed(param);
                CompletionCode::OK
            }
            BootParam::SERVICE_PARTITION_SCAN => {
                let [v] = body else { return bad_len };
                // bit 0 "partition discovered" is reported by firmware, not written here.
                self.service_scan = (self.service_scan & 0x01) | (v & 0x02);
                self.changed(param);
                CompletionCode::OK
            }
            BootParam::VALID_BIT_CLEARING => {
                if !self.config.valid_bit_clearing {
                    return CompletionCode::BOOT_PARAM_NOT_SUPPORTED;
                }
                match ValidBitClearing::decode(body) {
                    Ok(v) => self.valid_bit_clearing = v,
                    Err(_) => return bad_len,
                }
                self.changed(param);
                CompletionCode::OK
            }
            BootParam::BOOT_INFO_ACK => {
                if !self.config.boot_info_ack {
                    return CompletionCode::BOOT_PARAM_NOT_SUPPORTED;
                }
                let Ok(a) = BootInfoAck::decode(body) else {
                    return bad_len;
                };
                self.ack.handled = (self.ack.handled & !a.write_mask) | (a.handled & a.write_mask);
                self.changed(param);
                CompletionCode::OK
            }
            BootParam::BOOT_FLAGS => {
                let Ok(flags) = <[u8; 5]>::try_from(body) else {
                    return bad_len;
                };
                if !ignore {
                    self.flags = BootFlags::decode(&flags)
                        .map(|f| f.encode())
                        .unwrap_or(flags);
                    self.flags_set_at = (flags[0] & 0x80 != 0).then_some(now);
                    self.changed(param);
                }
                CompletionCode::OK
            }
            BootParam::BOOT_INITIATOR_INFO => {
                let Ok(info) = <[u8; 9]>::try_from(body) else {
                    return bad_len;
                };
                self.initiator_info = info;
                self.changed(param);
                CompletionCode::OK
            }
            BootParam::BOOT_INITIATOR_MAILBOX => {
                let Ok(block) = Block::decode(body) else {
                    return bad_len;
                };
                let Some(slot) = self.mailbox.get_mut(usize::from(block.index)) else {
                    return CompletionCode::PARAMETER_OUT_OF_RANGE;
                };
                if !ignore {
                    *slot = block.data;
                    self.changed(param);
                }
                CompletionCode::OK
            }
            BootParam::OEM_DIALECT_INFO if self.config.oem => CompletionCode::BOOT_PARAM_READ_ONLY,
            p if self.config.oem && oem_slot(p).is_some() => self.set_oem(p, body),
            _ => CompletionCode::BOOT_PARAM_NOT_SUPPORTED,
        }
    }

    fn set_oem(&mut self, param: BootParam, body: &[u8]) -> CompletionCode {
        let Some(slot) = oem_slot(param) else {
            return CompletionCode::BOOT_PARAM_NOT_SUPPORTED;
        };
        let Ok(block) = Block::decode(body) else {
            return CompletionCode::REQUEST_DATA_LENGTH_INVALID;
        };
        let start = usize::from(block.index) * BLOCK_LEN;
        if start >= OEM_AREA {
            return CompletionCode::PARAMETER_OUT_OF_RANGE;
        }
        if self.config.ignore_writes {
            return CompletionCode::OK;
        }
        if param == BootParam::OEM_CONTROL {
            // The control record fits block 0; the commit validates everything else.
            if block.index != 0 {
                return CompletionCode::PARAMETER_OUT_OF_RANGE;
            }
            let len = usize::from(block.data[0]);
            let Some(record) = block.data.get(1..=len) else {
                return CompletionCode::INVALID_DATA_FIELD;
            };
            let Ok(enabled) = oem::decode_control(record) else {
                return CompletionCode::INVALID_DATA_FIELD;
            };
            if enabled && self.oem_params().is_err() {
                return CompletionCode::INVALID_DATA_FIELD;
            }
            self.oem[slot][..BLOCK_LEN].copy_from_slice(&block.data);
            self.push(StoreEvent::OemCommitted { enabled });
            return CompletionCode::OK;
        }
        if let Some(area) = self
            .oem
            .get_mut(slot)
            .and_then(|a| a.get_mut(start..start + BLOCK_LEN))
        {
            area.copy_from_slice(&block.data);
            self.changed(param);
        }
        CompletionCode::OK
    }

    fn get(&self, data: &[u8]) -> Response {
        let [sel, set, block] = data else {
            return Response::error(CompletionCode::REQUEST_DATA_LENGTH_INVALID);
        };
        let param = BootParam(sel & BootParam::MAX);
        let invalid = self.invalid & (1u128 << param.0) != 0;
        let reply = |body: &[u8]| {
            GetResponse {
                param,
                invalid,
                data: body,
            }
            .to_response()
        };
        let _ = block; // block selector: unused by every parameter implemented here
        match param {
            BootParam::SET_IN_PROGRESS if self.config.set_in_progress => {
                reply(&self.set_in_progress.encode())
            }
            BootParam::SERVICE_PARTITION_SELECTOR => reply(&[self.service_partition]),
            BootParam::SERVICE_PARTITION_SCAN => reply(&[self.service_scan]),
            BootParam::VALID_BIT_CLEARING if self.config.valid_bit_clearing => {
                reply(&self.valid_bit_clearing.encode())
            }
            BootParam::BOOT_INFO_ACK if self.config.boot_info_ack => {
                reply(&[0, self.ack.handled.bits()])
            }
            BootParam::BOOT_FLAGS => reply(&self.flags),
            BootParam::BOOT_INITIATOR_INFO => reply(&self.initiator_info),
            BootParam::BOOT_INITIATOR_MAILBOX => match self.mailbox.get(usize::from(*set)) {
                Some(b) => reply(
                    &Block {
                        index: *set,
                        data: *b,
                    }
                    .encode(),
                ),
                None => Response::error(CompletionCode::PARAMETER_OUT_OF_RANGE),
            },
            BootParam::OEM_DIALECT_INFO if self.config.oem => {
                if *set != 0 {
                    return Response::error(CompletionCode::PARAMETER_OUT_OF_RANGE);
                }
                match oem::record_to_blocks(&oem::info_record()) {
                    Ok(blocks) => blocks.first().map_or_else(
                        || Response::error(CompletionCode::UNSPECIFIED),
                        |b| reply(&b.encode()),
                    ),
                    Err(_) => Response::error(CompletionCode::UNSPECIFIED),
                }
            }
            p if self.config.oem && oem_slot(p).is_some() => {
                let start = usize::from(*set) * BLOCK_LEN;
                let Some(area) = oem_slot(p).and_then(|s| self.oem.get(s)) else {
                    return Response::error(CompletionCode::BOOT_PARAM_NOT_SUPPORTED);
                };
                let Some(chunk) = area.get(start..start + BLOCK_LEN) else {
                    return Response::error(CompletionCode::PARAMETER_OUT_OF_RANGE);
                };
                let mut out = [0u8; BLOCK_LEN];
                if oem::is_write_only(p) {
                    // Only the length is revealed, in block 0.
                    if *set == 0 {
                        out[0] = area[0];
                    }
                } else {
                    out.copy_from_slice(chunk);
                }
                reply(
                    &Block {
                        index: *set,
                        data: out,
                    }
                    .encode(),
                )
            }
            _ => Response::error(CompletionCode::BOOT_PARAM_NOT_SUPPORTED),
        }
    }

    fn oem_record(&self, p: BootParam) -> Option<&[u8]> {
        let area = self.oem.get(oem_slot(p)?)?;
        let len = usize::from(*area.first()?);
        area.get(1..=len)
    }

    /// Whether the OEM control record says "enabled".
    pub fn oem_enabled(&self) -> bool {
        self.oem_record(BootParam::OEM_CONTROL)
            .and_then(|r| oem::decode_control(r).ok())
            .unwrap_or(false)
    }

    /// The parameters stored through the OEM dialect, with their secrets (for rendering).
    ///
    /// # Errors
    /// [`DecodeError`] when the records are incomplete or inconsistent.
    pub fn oem_params(&self) -> Result<IscsiBootParams, DecodeError> {
        let public = oem::decode_public(|p| self.oem_record(p))?;
        let secret = |p: BootParam, what: &'static str| -> Result<Option<Secret>, DecodeError> {
            match self.oem_record(p) {
                None | Some([]) => Ok(None),
                Some(bytes) => {
                    let text = core::str::from_utf8(bytes).map_err(|_| DecodeError::Value {
                        what,
                        at: 0,
                        value: 0,
                    })?;
                    Secret::new(text)
                        .map(Some)
                        .map_err(|source| DecodeError::Params {
                            what,
                            at: 0,
                            source,
                        })
                }
            }
        };
        let s1 = secret(BootParam::OEM_CHAP_SECRET, "chap secret")?;
        let s2 = secret(BootParam::OEM_REVERSE_CHAP_SECRET, "reverse chap secret")?;
        let missing = |what: &'static str| DecodeError::Truncated {
            what,
            at: 0,
            need: 1,
            have: 0,
        };
        // Secret length rules were the writer's business; the BMC stores what it got.
        let auth = match (&public.auth, s1, s2) {
            (AuthSummary::None, _, _) => Authentication::None,
            (AuthSummary::Chap { user }, Some(secret), _) => Authentication::Chap {
                initiator: ChapCredentials {
                    user: user.clone(),
                    secret,
                },
                allow_any_secret_length: true,
            },
            (AuthSummary::MutualChap { user, target_user }, Some(s1), Some(s2)) => {
                Authentication::MutualChap {
                    initiator: ChapCredentials {
                        user: user.clone(),
                        secret: s1,
                    },
                    target: ChapCredentials {
                        user: target_user.clone(),
                        secret: s2,
                    },
                    allow_any_secret_length: true,
                }
            }
            (AuthSummary::Chap { .. }, None, _) | (AuthSummary::MutualChap { .. }, None, _) => {
                return Err(missing("chap secret"));
            }
            (AuthSummary::MutualChap { .. }, Some(_), None) => {
                return Err(missing("reverse chap secret"));
            }
        };
        public.with_auth(auth).ok_or(DecodeError::Value {
            what: "authentication",
            at: 0,
            value: 0,
        })
    }

    /// The OEM contents as a manager would read them back.
    ///
    /// # Errors
    /// [`DecodeError`] when the records are incomplete or inconsistent.
    pub fn oem_read_back(&self) -> Result<OemReadBack, DecodeError> {
        Ok(OemReadBack {
            params: oem::decode_public(|p| self.oem_record(p))?,
            chap_secret_len: self
                .oem_record(BootParam::OEM_CHAP_SECRET)
                .map_or(0, <[u8]>::len),
            reverse_secret_len: self
                .oem_record(BootParam::OEM_REVERSE_CHAP_SECRET)
                .map_or(0, <[u8]>::len),
            enabled: self.oem_enabled(),
        })
    }

    /// The mailbox contents decoded under `pen`.
    ///
    /// # Errors
    /// [`DecodeError`] (e.g. `Enterprise` when block 0 carries another number or is empty).
    pub fn mailbox_params(&self, pen: Pen) -> Result<PublicBootParams, DecodeError> {
        let blocks: Vec<Block> = self
            .mailbox
            .iter()
            .zip(0u8..=u8::MAX)
            .map(|(data, index)| Block { index, data: *data })
            .collect();
        mailbox::decode_blocks(pen, &blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootopt::{get_request, set_request};

    fn store() -> BootOptionsStore {
        BootOptionsStore::new(StoreConfig::default())
    }

    #[test]
    fn set_in_progress_twice_answers_0x81() {
        let mut s = store();
        let t = Duration::ZERO;
        let sip = set_request(BootParam::SET_IN_PROGRESS, &[1]);
        assert!(s.handle(t, &sip).is_ok());
        assert_eq!(
            s.handle(t, &sip).completion,
            CompletionCode::BOOT_PARAM_SET_IN_PROGRESS
        );
        assert!(
            s.handle(t, &set_request(BootParam::SET_IN_PROGRESS, &[0]))
                .is_ok()
        );
        assert!(s.handle(t, &sip).is_ok());
        assert_eq!(
            s.handle(t, &set_request(BootParam::SET_IN_PROGRESS, &[3]))
                .completion,
            CompletionCode::INVALID_DATA_FIELD
        );
    }

    #[test]
    fn valid_bit_clears_after_60_seconds_unless_param3_bit3() {
        let mut s = store();
        let flags = set_request(BootParam::BOOT_FLAGS, &[0x80, 0x04, 0, 0, 0]);
        assert!(s.handle(Duration::from_secs(10), &flags).is_ok());
        s.handle_timeout(Duration::from_secs(69));
        assert!(s.boot_flags().valid);
        s.handle_timeout(Duration::from_secs(70));
        assert!(!s.boot_flags().valid);
        assert_eq!(
            s.poll_event(),
            Some(StoreEvent::Changed(BootParam::BOOT_FLAGS))
        );
        assert_eq!(s.poll_event(), Some(StoreEvent::FlagsExpired));

        let mut s = store();
        s.handle(
            Duration::ZERO,
            &set_request(BootParam::VALID_BIT_CLEARING, &[0x08]),
        );
        s.handle(Duration::ZERO, &flags);
        s.handle_timeout(Duration::from_secs(3600));
        assert!(s.boot_flags().valid);
    }

    #[test]
    fn chassis_control_stops_the_timer_and_a_boot_consumes_one_shot_flags() {
        let mut s = store();
        s.handle(
            Duration::ZERO,
            &set_request(BootParam::BOOT_FLAGS, &[0x80, 0x04, 0, 0, 0]),
        );
        let ctl = Request::new(NetFn::CHASSIS, chassis::CHASSIS_CONTROL, [0x01]);
        assert!(s.handle(Duration::from_secs(5), &ctl).is_ok());
        assert!(!s.boot_flags().valid, "one-shot flags consumed by the boot");
        let status = s.handle(
            Duration::from_secs(6),
            &Request::new(NetFn::CHASSIS, chassis::GET_CHASSIS_STATUS, []),
        );
        assert_eq!(status.data[0] & 1, 1);
    }

    #[test]
    fn mailbox_past_the_end_is_0xc9_and_read_only_is_0x82() {
        let mut s = BootOptionsStore::new(StoreConfig {
            mailbox_blocks: 5,
            ..StoreConfig::default()
        });
        let t = Duration::ZERO;
        assert!(
            s.handle(t, &get_request(BootParam::BOOT_INITIATOR_MAILBOX, 4, 0))
                .is_ok()
        );
        assert_eq!(
            s.handle(t, &get_request(BootParam::BOOT_INITIATOR_MAILBOX, 5, 0))
                .completion,
            CompletionCode::PARAMETER_OUT_OF_RANGE
        );
        assert_eq!(
            s.handle(t, &set_request(BootParam::BOOT_INITIATOR_MAILBOX, &[5, 1]))
                .completion,
            CompletionCode::PARAMETER_OUT_OF_RANGE
        );
        assert_eq!(
            s.handle(t, &set_request(BootParam::OEM_DIALECT_INFO, &[0, 1]))
                .completion,
            CompletionCode::BOOT_PARAM_READ_ONLY
        );
        assert_eq!(
            s.handle(t, &set_request(BootParam(8), &[0])).completion,
            CompletionCode::BOOT_PARAM_NOT_SUPPORTED
        );
        assert_eq!(
            s.handle(t, &set_request(BootParam::BOOT_FLAGS, &[0x80]))
                .completion,
            CompletionCode::REQUEST_DATA_LENGTH_INVALID
        );
    }
}
