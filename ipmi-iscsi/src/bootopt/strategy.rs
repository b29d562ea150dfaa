//! The write / read-back strategy as sans-IO [`Exchange`]s.
//!
//! [`WriteExchange`] pushes [`IscsiBootParams`] and boot flags to a BMC:
//! ```text
//! 1 set in progress   Set p0 = 1       0x81 → Set p0 = 0, retry once; still 0x81 → error;
//!                                      any other failure → carry on without it (ipmitool)
//! 2 valid bit clearing Set p3 = flags  0x80 (also 0xC1, 0xCC) → unsupported, continue
//! 3 boot info ack     Set p4 = 01 01   0x80 (also 0xC1, 0xCC) → unsupported, continue
//! 4 probe (mailbox)   Get p7 block 0..needed-1 until the BMC refuses → too small = error
//! 5 write             mailbox blocks or OEM records (control record last), then p5
//! 6 commit            Set p0 = 2 (only while set-in-progress is held), then Set p0 = 0
//! 7 read back         Get p5 and the dialect's parameters; any difference = error
//! ```
//! Steps 1, 2, 3 and 6 are switchable ([`WriteSteps`]). Once set-in-progress is held,
//! every exit (also on error) releases it with Set p0 = 0.
//!
//! [`ReadExchange`] answers "what is configured on this BMC" without secrets.

use std::collections::VecDeque;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::ipmi::{CompletionCode, Exchange, Request, Response};
use crate::params::{IscsiBootParams, PublicBootParams};

use super::error::{DecodeError, EncodeError};
use super::mailbox::{self, Pen};
use super::oem::{self, OemReadBack};
use super::param::{BootParam, GetResponse, get_request, is_unsupported, set_request};
use super::standard::{Block, BootFlags, BootInfoAck, SetInProgress, ValidBitClearing};

/// Where the iSCSI parameters go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "dialect", rename_all = "snake_case"))]
pub enum Dialect {
    /// Parameter 7 under this enterprise number; no secrets.
    Mailbox {
        /// Enterprise number in block 0.
        pen: Pen,
    },
    /// Parameters 96–127.
    Oem {
        /// The caller asserts that the session encrypts payloads (required for CHAP).
        confidential: bool,
    },
}

/// Which optional steps the writer performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct WriteSteps {
    /// Wrap the writes in set-in-progress (parameter 0).
    pub set_in_progress: bool,
    /// Write parameter 3 with these "don't clear" bits first.
    pub valid_bit_clearing: Option<ValidBitClearing>,
    /// Write parameter 4 `{0x01, 0x01}` (ipmitool's "clear BIOS ack").
    pub boot_info_ack: bool,
    /// Send commit-write (parameter 0 = 2) before set-complete.
    pub commit: bool,
    /// Read back and compare after writing.
    pub read_back: bool,
}

impl Default for WriteSteps {
    /// Everything on; parameter 3 keeps the valid bit over the 60-second timeout.
    fn default() -> Self {
        Self {
            set_in_progress: true,
            valid_bit_clearing: Some(ValidBitClearing::DONT_CLEAR_ON_TIMEOUT),
            boot_info_ack: true,
            commit: true,
            read_back: true,
        }
    }
}

/// How an optional step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StepOutcome {
    /// Switched off.
    #[default]
    Skipped,
    /// Accepted.
    Done,
    /// 0x81 at first; cleared with set-complete and accepted on the retry.
    Recovered,
    /// The BMC refused with this code; the write went on without the step.
    Unsupported(CompletionCode),
}

/// Summary of a successful write.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WriteReport {
    /// Parameter 0 = 1.
    pub set_in_progress: StepOutcome,
    /// Parameter 3.
    pub valid_bit_clearing: StepOutcome,
    /// Parameter 4.
    pub boot_info_ack: StepOutcome,
    /// Parameter 0 = 2.
    pub commit: StepOutcome,
    /// Mailbox blocks confirmed readable by the probe (mailbox dialect).
    pub mailbox_blocks_probed: Option<usize>,
    /// Requests sent.
    pub requests: usize,
    /// What the read-back found (when enabled).
    pub read_back: Option<Configured>,
}

/// Why a write failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The parameters cannot be encoded (includes a mailbox that is too small).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Set-in-progress answered 0x81 even after set-complete.
    #[error("bmc is stuck in 'set in progress' (0x81 after clearing with set complete)")]
    SetInProgressStuck,
    /// A required write or read was refused.
    #[error("{step}: bmc refused parameter {param} block {block:?} with {completion}")]
    Refused {
        /// Step name.
        step: &'static str,
        /// Parameter.
        param: BootParam,
        /// Block, for block-addressed parameters.
        block: Option<u8>,
        /// Completion code.
        completion: CompletionCode,
    },
    /// A response that does not decode.
    #[error("{step}: bad response for parameter {param}: {source}")]
    BadResponse {
        /// Step name.
        step: &'static str,
        /// Parameter.
        param: BootParam,
        /// Decode failure.
        source: DecodeError,
    },
    /// The BMC accepted the writes but reads back something else.
    #[error("bmc acknowledged but did not store {what}: wrote {wrote}, read back {read}")]
    Ignored {
        /// What differs.
        what: &'static str,
        /// What was written (never a secret).
        wrote: String,
        /// What came back.
        read: String,
    },
}

/// The iSCSI part of a read-back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IscsiState {
    /// The BMC does not implement the dialect's parameters.
    NotSupported(CompletionCode),
    /// The parameters are empty, disabled, or carry another enterprise number.
    NotConfigured,
    /// Mailbox dialect contents.
    Mailbox(PublicBootParams),
    /// OEM dialect contents.
    Oem(OemReadBack),
    /// Contents present but malformed.
    Invalid(DecodeError),
}

/// What a BMC holds, as read back (no secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configured {
    /// Parameter 5, when supported.
    pub boot_flags: Option<BootFlags>,
    /// The iSCSI parameters.
    pub iscsi: IscsiState,
}

#[derive(Clone, Debug)]
enum ReadOp {
    Flags,
    Mailbox { block: u8 },
    OemRecord { idx: usize, block: u8 },
}

/// Order of the OEM reads: control first (empty = not configured), then the records.
const OEM_READ_ORDER: [BootParam; 10] = [
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

/// Reads parameter 5 and the dialect's iSCSI parameters.
#[derive(Debug)]
pub struct ReadExchange {
    dialect: Dialect,
    next: Option<ReadOp>,
    current: Option<ReadOp>,
    flags: Option<BootFlags>,
    blocks: Vec<Block>,
    mailbox_needed: usize,
    records: Vec<Vec<u8>>,
    iscsi: Option<IscsiState>,
    requests: usize,
}

impl ReadExchange {
    /// A read of parameter 5 and the iSCSI parameters in `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            next: Some(ReadOp::Flags),
            current: None,
            flags: None,
            blocks: Vec::new(),
            mailbox_needed: 1,
            records: Vec::new(),
            iscsi: None,
            requests: 0,
        }
    }

    /// The result, once [`Exchange::poll_request`] returned `None`.
    pub fn outcome(&self) -> Option<Configured> {
        let iscsi = self.iscsi.clone()?;
        Some(Configured {
            boot_flags: self.flags,
            iscsi,
        })
    }

    fn finish(&mut self, state: IscsiState) {
        self.iscsi = Some(state);
        self.next = None;
    }

    fn start_iscsi(&mut self) {
        self.next = Some(match self.dialect {
            Dialect::Mailbox { .. } => ReadOp::Mailbox { block: 0 },
            Dialect::Oem { .. } => ReadOp::OemRecord { idx: 0, block: 0 },
        });
    }

    fn block_of(param: BootParam, block: u8, response: &Response) -> Result<Block, DecodeError> {
        let r = GetResponse::decode_for(&response.data, param)?;
        let b = Block::decode(r.data)?;
        if b.index != block {
            return Err(DecodeError::Mismatch {
                what: "block",
                expected: block,
                found: b.index,
            });
        }
        Ok(b)
    }

    fn on_mailbox(&mut self, pen: Pen, block: u8, response: &Response) {
        if !response.is_ok() {
            let state = if block == 0 {
                IscsiState::NotSupported(response.completion)
            } else {
                IscsiState::Invalid(DecodeError::Truncated {
                    what: "mailbox blocks (bmc refused a block)",
                    at: usize::from(block) * super::BLOCK_LEN,
                    need: self.mailbox_needed * super::BLOCK_LEN,
                    have: usize::from(block) * super::BLOCK_LEN,
                })
            };
            return self.finish(state);
        }
        let b = match Self::block_of(BootParam::BOOT_INITIATOR_MAILBOX, block, response) {
            Ok(b) => b,
            Err(e) => return self.finish(IscsiState::Invalid(e)),
        };
        if block == 0 {
            match mailbox::blocks_declared(pen, &b) {
                Ok(n) => self.mailbox_needed = n,
                Err(DecodeError::Enterprise { .. }) => {
                    return self.finish(IscsiState::NotConfigured);
                }
                Err(e) => return self.finish(IscsiState::Invalid(e)),
            }
        }
        self.blocks.push(b);
        if self.blocks.len() >= self.mailbox_needed {
            let state = match mailbox::decode_blocks(pen, &self.blocks) {
                Ok(p) => IscsiState::Mailbox(p),
                Err(e) => IscsiState::Invalid(e),
            };
            self.finish(state);
        } else {
            self.next = Some(ReadOp::Mailbox { block: block + 1 });
        }
    }

    fn on_oem(&mut self, idx: usize, block: u8, response: &Response) {
        let param = OEM_READ_ORDER[idx];
        if !response.is_ok() {
            let state = if idx == 0 && block == 0 {
                IscsiState::NotSupported(response.completion)
            } else {
                IscsiState::Invalid(DecodeError::Truncated {
                    what: "oem record (bmc refused a block)",
                    at: usize::from(block) * super::BLOCK_LEN,
                    need: super::BLOCK_LEN,
                    have: 0,
                })
            };
            return self.finish(state);
        }
        let b = match Self::block_of(param, block, response) {
            Ok(b) => b,
            Err(e) => return self.finish(IscsiState::Invalid(e)),
        };
        self.blocks.push(b);
        let needed = oem::record_blocks(usize::from(self.blocks[0].data[0]));
        if self.blocks.len() < needed {
            self.next = Some(ReadOp::OemRecord {
                idx,
                block: block + 1,
            });
            return;
        }
        let record = match oem::record_from_blocks(&self.blocks) {
            Ok(r) => r,
            Err(e) => return self.finish(IscsiState::Invalid(e)),
        };
        self.blocks.clear();
        if idx == 0 && record.is_empty() {
            return self.finish(IscsiState::NotConfigured);
        }
        self.records.push(record);
        if idx + 1 < OEM_READ_ORDER.len() {
            self.next = Some(ReadOp::OemRecord {
                idx: idx + 1,
                block: 0,
            });
            return;
        }
        let state = match self.decode_oem() {
            Ok(r) => IscsiState::Oem(r),
            Err(e) => IscsiState::Invalid(e),
        };
        self.finish(state);
    }

    fn decode_oem(&self) -> Result<OemReadBack, DecodeError> {
        let enabled = oem::decode_control(&self.records[0])?;
        let params = oem::decode_public(|p| {
            OEM_READ_ORDER
                .iter()
                .position(|&q| q == p)
                .and_then(|i| self.records.get(i))
                .map(Vec::as_slice)
        })?;
        Ok(OemReadBack {
            params,
            chap_secret_len: self.records.get(8).map_or(0, Vec::len),
            reverse_secret_len: self.records.get(9).map_or(0, Vec::len),
            enabled,
        })
    }
}

impl Exchange for ReadExchange {
    fn poll_request(&mut self) -> Option<Request> {
        let op = self.next.take()?;
        let req = match &op {
            ReadOp::Flags => get_request(BootParam::BOOT_FLAGS, 0, 0),
            ReadOp::Mailbox { block } => get_request(BootParam::BOOT_INITIATOR_MAILBOX, *block, 0),
            ReadOp::OemRecord { idx, block } => get_request(OEM_READ_ORDER[*idx], *block, 0),
        };
        self.current = Some(op);
        self.requests += 1;
        Some(req)
    }

    fn handle_response(&mut self, response: &Response) {
        match self.current.take() {
            Some(ReadOp::Flags) => {
                if response.is_ok() {
                    match GetResponse::decode_for(&response.data, BootParam::BOOT_FLAGS)
                        .and_then(|r| BootFlags::decode(r.data))
                    {
                        Ok(f) => self.flags = Some(f),
                        Err(e) => return self.finish(IscsiState::Invalid(e)),
                    }
                }
                self.start_iscsi();
            }
            Some(ReadOp::Mailbox { block }) => {
                if let Dialect::Mailbox { pen } = self.dialect {
                    self.on_mailbox(pen, block, response);
                }
            }
            Some(ReadOp::OemRecord { idx, block }) => self.on_oem(idx, block, response),
            None => {}
        }
    }
}

/// What to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePlan {
    /// The parameters.
    pub params: IscsiBootParams,
    /// Where they go.
    pub dialect: Dialect,
    /// Boot flags for parameter 5 (`None` leaves parameter 5 alone).
    pub boot_flags: Option<BootFlags>,
    /// OEM dialect: the enable bit of the control record.
    pub enable: bool,
    /// Optional steps.
    pub steps: WriteSteps,
}

impl WritePlan {
    /// Network boot (PXE device, next boot only, legacy) with every step on.
    pub fn new(params: IscsiBootParams, dialect: Dialect) -> Self {
        Self {
            params,
            dialect,
            boot_flags: Some(BootFlags::network_boot(false, false)),
            enable: true,
            steps: WriteSteps::default(),
        }
    }
}

#[derive(Clone, Debug)]
enum WriteOp {
    SipStart {
        retried: bool,
    },
    SipClearForRetry,
    ValidBitClearing(ValidBitClearing),
    Ack,
    Probe {
        block: u8,
    },
    Set {
        step: &'static str,
        param: BootParam,
        data: Vec<u8>,
    },
    Commit,
    SipComplete,
    ReadBack,
}

/// Pushes a [`WritePlan`] to a BMC; see the module docs for the sequence.
#[derive(Debug)]
pub struct WriteExchange {
    plan_flags: Option<BootFlags>,
    dialect: Dialect,
    expected: PublicBootParams,
    expected_secret_lens: (usize, usize),
    enable: bool,
    mailbox_needed: usize,
    queue: VecDeque<WriteOp>,
    current: Option<WriteOp>,
    read: Option<ReadExchange>,
    sip_held: bool,
    commit_wanted: bool,
    report: WriteReport,
    error: Option<WriteError>,
    done: bool,
}

impl WriteExchange {
    /// Encodes everything up front, so encoding errors surface before any request.
    ///
    /// # Errors
    /// [`EncodeError`] for invalid parameters, secrets without confidentiality, or a
    /// payload larger than any mailbox.
    pub fn new(plan: &WritePlan) -> Result<Self, EncodeError> {
        let mut writes = Vec::new();
        let mut mailbox_needed = 0;
        match plan.dialect {
            Dialect::Mailbox { pen } => {
                let payload = mailbox::encode_payload(&plan.params.without_secrets())?;
                let blocks = mailbox::payload_to_blocks(pen, &payload);
                mailbox_needed = blocks.len();
                for b in blocks {
                    writes.push(WriteOp::Set {
                        step: "mailbox write",
                        param: BootParam::BOOT_INITIATOR_MAILBOX,
                        data: b.encode().to_vec(),
                    });
                }
            }
            Dialect::Oem { confidential } => {
                for (param, record) in oem::encode_records(&plan.params, confidential, plan.enable)?
                {
                    for b in oem::record_to_blocks(&record)? {
                        writes.push(WriteOp::Set {
                            step: "oem write",
                            param,
                            data: b.encode().to_vec(),
                        });
                    }
                }
            }
        }
        if let Some(f) = plan.boot_flags {
            writes.push(WriteOp::Set {
                step: "boot flags write",
                param: BootParam::BOOT_FLAGS,
                data: f.encode().to_vec(),
            });
        }
        let steps = plan.steps;
        let mut queue = VecDeque::new();
        if steps.set_in_progress {
            queue.push_back(WriteOp::SipStart { retried: false });
        }
        if let Some(v) = steps.valid_bit_clearing {
            queue.push_back(WriteOp::ValidBitClearing(v));
        }
        if steps.boot_info_ack {
            queue.push_back(WriteOp::Ack);
        }
        if mailbox_needed > 0 {
            queue.push_back(WriteOp::Probe { block: 0 });
        }
        queue.extend(writes);
        // Commit and SipComplete are inserted once set-in-progress is known to be held.
        if steps.read_back {
            queue.push_back(WriteOp::ReadBack);
        }
        let secret_lens = (
            plan.params.auth.initiator().map_or(0, |c| c.secret.len()),
            plan.params.auth.target().map_or(0, |c| c.secret.len()),
        );
        Ok(Self {
            plan_flags: plan.boot_flags,
            dialect: plan.dialect,
            expected: plan.params.without_secrets(),
            expected_secret_lens: secret_lens,
            enable: plan.enable,
            mailbox_needed,
            queue,
            current: None,
            read: None,
            sip_held: false,
            commit_wanted: steps.commit,
            report: WriteReport::default(),
            error: None,
            done: false,
        })
    }

    /// The outcome, once [`Exchange::poll_request`] returned `None`.
    pub fn outcome(&self) -> Option<Result<&WriteReport, &WriteError>> {
        if !self.done {
            return None;
        }
        Some(match &self.error {
            Some(e) => Err(e),
            None => Ok(&self.report),
        })
    }

    /// Consumes the exchange and returns its outcome (`None` if unfinished).
    pub fn into_outcome(self) -> Option<Result<WriteReport, WriteError>> {
        if !self.done {
            return None;
        }
        Some(match self.error {
            Some(e) => Err(e),
            None => Ok(self.report),
        })
    }

    fn fail(&mut self, e: WriteError) {
        self.error = Some(e);
        self.queue.clear();
        self.read = None;
        if self.sip_held {
            self.queue.push_back(WriteOp::SipComplete);
        }
    }

    /// Inserts commit / set-complete before the read-back once the writes are queued out.
    fn before_read_back(&mut self) {
        if self.sip_held {
            let mut tail = VecDeque::new();
            if self.commit_wanted {
                tail.push_back(WriteOp::Commit);
            }
            tail.push_back(WriteOp::SipComplete);
            tail.append(&mut self.queue);
            self.queue = tail;
        }
    }

    fn verify(&mut self, got: Configured) {
        if let Some(f) = self.plan_flags {
            let key = |f: &BootFlags| (f.valid, f.persistent, f.efi, f.device);
            let ok = got.boot_flags.is_some_and(|g| key(&g) == key(&f));
            if !ok {
                return self.fail(WriteError::Ignored {
                    what: "boot flags (parameter 5)",
                    wrote: format!("{:02x?}", f.encode()),
                    read: got
                        .boot_flags
                        .map_or_else(|| "nothing".to_owned(), |g| format!("{:02x?}", g.encode())),
                });
            }
        }
        let expected = &self.expected;
        let mismatch = match (&got.iscsi, self.dialect) {
            (IscsiState::Mailbox(p), Dialect::Mailbox { .. }) if p == expected => None,
            (IscsiState::Oem(r), Dialect::Oem { .. })
                if &r.params == expected
                    && (r.chap_secret_len, r.reverse_secret_len) == self.expected_secret_lens
                    && r.enabled == self.enable =>
            {
                None
            }
            (other, _) => Some(other.clone()),
        };
        if let Some(other) = mismatch {
            let read = match &other {
                IscsiState::Oem(r) => format!(
                    "{:?} (secret lengths {}/{}, enabled {})",
                    r.params, r.chap_secret_len, r.reverse_secret_len, r.enabled
                ),
                o => format!("{o:?}"),
            };
            return self.fail(WriteError::Ignored {
                what: "iscsi parameters",
                wrote: format!("{expected:?}"),
                read,
            });
        }
        self.report.read_back = Some(got);
    }

    fn set_step(
        &mut self,
        completion: CompletionCode,
        step: &'static str,
        param: BootParam,
    ) -> Option<StepOutcome> {
        if completion.is_ok() {
            Some(StepOutcome::Done)
        } else if optional_step_unsupported(completion) {
            Some(StepOutcome::Unsupported(completion))
        } else {
            self.fail(WriteError::Refused {
                step,
                param,
                block: None,
                completion,
            });
            None
        }
    }
}

/// Codes that mean "this BMC does not do parameter 3/4" for the optional steps: 0x80 by
/// spec, 0xC1 and 0xCC as BMCs answer in practice (OpenIPMI `ipmi_sim` answers 0xCC).
/// The read-back still proves the essential writes landed.
fn optional_step_unsupported(cc: CompletionCode) -> bool {
    is_unsupported(cc)
        || cc == CompletionCode::INVALID_COMMAND
        || cc == CompletionCode::INVALID_DATA_FIELD
}

impl Exchange for WriteExchange {
    fn poll_request(&mut self) -> Option<Request> {
        loop {
            if let Some(read) = &mut self.read {
                if let Some(req) = read.poll_request() {
                    self.report.requests += 1;
                    return Some(req);
                }
                let got = read.outcome();
                self.read = None;
                if let Some(got) = got {
                    self.verify(got);
                }
                continue;
            }
            let Some(op) = self.queue.pop_front() else {
                self.done = true;
                return None;
            };
            let req = match &op {
                WriteOp::SipStart { .. } => set_request(
                    BootParam::SET_IN_PROGRESS,
                    &SetInProgress::InProgress.encode(),
                ),
                WriteOp::SipClearForRetry | WriteOp::SipComplete => set_request(
                    BootParam::SET_IN_PROGRESS,
                    &SetInProgress::Complete.encode(),
                ),
                WriteOp::Commit => set_request(
                    BootParam::SET_IN_PROGRESS,
                    &SetInProgress::CommitWrite.encode(),
                ),
                WriteOp::ValidBitClearing(v) => {
                    set_request(BootParam::VALID_BIT_CLEARING, &v.encode())
                }
                WriteOp::Ack => set_request(
                    BootParam::BOOT_INFO_ACK,
                    &BootInfoAck::IPMITOOL_CLEAR_BIOS.encode(),
                ),
                WriteOp::Probe { block } => {
                    get_request(BootParam::BOOT_INITIATOR_MAILBOX, *block, 0)
                }
                WriteOp::Set { param, data, .. } => set_request(*param, data),
                WriteOp::ReadBack => {
                    self.read = Some(ReadExchange::new(self.dialect));
                    continue;
                }
            };
            if matches!(op, WriteOp::ReadBack) {
                continue;
            }
            self.current = Some(op);
            self.report.requests += 1;
            return Some(req);
        }
    }

    fn handle_response(&mut self, response: &Response) {
        if let Some(read) = &mut self.read {
            read.handle_response(response);
            return;
        }
        let Some(op) = self.current.take() else {
            return;
        };
        let cc = response.completion;
        match op {
            WriteOp::SipStart { retried } => {
                if cc.is_ok() {
                    self.sip_held = true;
                    self.report.set_in_progress = if retried {
                        StepOutcome::Recovered
                    } else {
                        StepOutcome::Done
                    };
                } else if cc == CompletionCode::BOOT_PARAM_SET_IN_PROGRESS {
                    if retried {
                        self.fail(WriteError::SetInProgressStuck);
                    } else {
                        // digest §6 IPMI 2: another client left it in progress; clear, retry once.
                        self.queue.push_front(WriteOp::SipStart { retried: true });
                        self.queue.push_front(WriteOp::SipClearForRetry);
                    }
                } else {
                    // ipmitool: any failure means "no set-in-progress on this BMC".
                    self.report.set_in_progress = StepOutcome::Unsupported(cc);
                }
            }
            WriteOp::SipClearForRetry => {}
            WriteOp::ValidBitClearing(_) => {
                if let Some(o) =
                    self.set_step(cc, "valid bit clearing", BootParam::VALID_BIT_CLEARING)
                {
                    self.report.valid_bit_clearing = o;
                }
            }
            WriteOp::Ack => {
                if let Some(o) =
                    self.set_step(cc, "boot info acknowledge", BootParam::BOOT_INFO_ACK)
                {
                    self.report.boot_info_ack = o;
                }
            }
            WriteOp::Probe { block } => {
                let readable = cc.is_ok();
                let probed = if readable {
                    usize::from(block) + 1
                } else {
                    usize::from(block)
                };
                self.report.mailbox_blocks_probed = Some(probed);
                if !readable {
                    if let Dialect::Mailbox { .. } = self.dialect {
                        let bytes = mailbox::encode_payload(&self.expected).map_or(0, |p| p.len());
                        self.fail(WriteError::Encode(EncodeError::MailboxTooSmall {
                            needed: self.mailbox_needed,
                            bytes,
                            capacity: probed,
                        }));
                    }
                } else if probed < self.mailbox_needed {
                    self.queue.push_front(WriteOp::Probe { block: block + 1 });
                }
            }
            WriteOp::Set { step, param, data } => {
                if !cc.is_ok() {
                    let block = (param == BootParam::BOOT_INITIATOR_MAILBOX || param.is_oem())
                        .then(|| data.first().copied())
                        .flatten();
                    self.fail(WriteError::Refused {
                        step,
                        param,
                        block,
                        completion: cc,
                    });
                } else if !self
                    .queue
                    .iter()
                    .any(|op| matches!(op, WriteOp::Set { .. }))
                {
                    self.before_read_back();
                }
            }
            WriteOp::Commit => {
                self.report.commit = if cc.is_ok() {
                    StepOutcome::Done
                } else {
                    StepOutcome::Unsupported(cc)
                };
            }
            WriteOp::SipComplete => {
                self.sip_held = false;
            }
            WriteOp::ReadBack => {}
        }
    }
}

/// Counts the mailbox blocks a BMC offers by reading block 0, 1, … until it refuses
/// (0xC9 past the end, or any other error), at most 256.
#[derive(Clone, Debug, Default)]
pub struct MailboxProbe {
    next: u16,
    refused: Option<CompletionCode>,
    done: bool,
}

impl MailboxProbe {
    /// A probe starting at block 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Blocks readable and the code that ended the probe (`None` when all 256 were read),
    /// once finished.
    pub fn outcome(&self) -> Option<(usize, Option<CompletionCode>)> {
        self.done.then_some((usize::from(self.next), self.refused))
    }
}

impl Exchange for MailboxProbe {
    fn poll_request(&mut self) -> Option<Request> {
        if self.done {
            return None;
        }
        match u8::try_from(self.next) {
            Ok(block) => Some(get_request(BootParam::BOOT_INITIATOR_MAILBOX, block, 0)),
            Err(_) => {
                self.done = true;
                None
            }
        }
    }

    fn handle_response(&mut self, response: &Response) {
        let block_ok = response.is_ok()
            && GetResponse::decode_for(&response.data, BootParam::BOOT_INITIATOR_MAILBOX)
                .and_then(|r| Block::decode(r.data))
                .is_ok_and(|b| u16::from(b.index) == self.next);
        if block_ok {
            self.next += 1;
        } else {
            self.refused = Some(response.completion);
            self.done = true;
        }
    }
}
