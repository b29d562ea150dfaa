//! The standard parameters 0, 3, 4, 5, 6 and the parameter-7 block framing
//! (IPMI v2.0 table 28-14; bit meanings as ipmitool and FreeIPMI use them).

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::ipmi::code_points;

use super::error::DecodeError;

fn exact<const N: usize>(what: &'static str, data: &[u8]) -> Result<[u8; N], DecodeError> {
    data.try_into().map_err(|_| DecodeError::Length {
        what,
        expected: N,
        actual: data.len(),
    })
}

/// Parameter 0, Set In Progress: one byte, bits 1:0.
///
/// ```text
/// byte 0: [7:2] reserved  [1:0] 0 set complete, 1 set in progress, 2 commit write, 3 reserved
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SetInProgress {
    /// 0: set complete.
    #[default]
    Complete,
    /// 1: set in progress.
    InProgress,
    /// 2: commit write.
    CommitWrite,
}

impl SetInProgress {
    /// The data byte.
    pub fn encode(self) -> [u8; 1] {
        [match self {
            Self::Complete => 0,
            Self::InProgress => 1,
            Self::CommitWrite => 2,
        }]
    }

    /// Decodes the data byte (reserved bits 7:2 ignored).
    ///
    /// # Errors
    /// [`DecodeError::Length`] unless exactly one byte; [`DecodeError::Value`] for the
    /// reserved value 3.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let [b] = exact::<1>("set in progress", data)?;
        match b & 0x03 {
            0 => Ok(Self::Complete),
            1 => Ok(Self::InProgress),
            2 => Ok(Self::CommitWrite),
            v => Err(DecodeError::Value {
                what: "set in progress",
                at: 0,
                value: v,
            }),
        }
    }
}

bitflags::bitflags! {
    /// Parameter 3, BMC boot flag valid bit clearing: each set bit means "do NOT clear the
    /// boot-flags valid bit" on that event.
    ///
    /// ```text
    /// byte 0: [7:5] reserved [4] PEF reset [3] 60 s chassis-control timeout
    ///         [2] watchdog reset [1] pushbutton/soft reset [0] power-up via button/wake
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
    #[cfg_attr(feature = "serde", serde(transparent))]
    pub struct ValidBitClearing: u8 {
        /// Don't clear on power-up via power button or wake event.
        const DONT_CLEAR_ON_POWER_UP = 0x01;
        /// Don't clear on pushbutton or soft reset.
        const DONT_CLEAR_ON_RESET = 0x02;
        /// Don't clear on watchdog reset.
        const DONT_CLEAR_ON_WATCHDOG = 0x04;
        /// Don't clear on the 60-second chassis-control timeout (what pyghmi/Ironic set).
        const DONT_CLEAR_ON_TIMEOUT = 0x08;
        /// Don't clear on a PEF-initiated reset or power cycle.
        const DONT_CLEAR_ON_PEF = 0x10;
    }
}

impl ValidBitClearing {
    /// The data byte.
    pub fn encode(self) -> [u8; 1] {
        [self.bits()]
    }

    /// Decodes the data byte (reserved bits dropped).
    ///
    /// # Errors
    /// [`DecodeError::Length`] unless exactly one byte.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let [b] = exact::<1>("valid bit clearing", data)?;
        Ok(Self::from_bits_truncate(b))
    }
}

bitflags::bitflags! {
    /// Parameter 4 agents: who has handled the boot info.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
    #[cfg_attr(feature = "serde", serde(transparent))]
    pub struct AckAgents: u8 {
        /// BIOS/POST.
        const BIOS = 0x01;
        /// OS loader.
        const OS_LOADER = 0x02;
        /// OS / service partition.
        const OS = 0x04;
        /// SMS.
        const SMS = 0x08;
        /// OEM.
        const OEM = 0x10;
    }
}

/// Parameter 4, Boot Info Acknowledge: a write-enable mask, then the "handled by" bits.
///
/// ```text
/// byte 0: write mask (which bits of byte 1 to write)   byte 1: boot-info-handled bits
/// ```
/// ipmitool writes `{0x01, 0x01}` before changing flags ("clear BIOS ack").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct BootInfoAck {
    /// Bits of `handled` to write (Set) / unused on Get.
    pub write_mask: AckAgents,
    /// Handled-by bits.
    pub handled: AckAgents,
}

impl BootInfoAck {
    /// What ipmitool sends before writing boot flags.
    pub const IPMITOOL_CLEAR_BIOS: Self = Self {
        write_mask: AckAgents::BIOS,
        handled: AckAgents::BIOS,
    };

    /// The two data bytes.
    pub fn encode(self) -> [u8; 2] {
        [self.write_mask.bits(), self.handled.bits()]
    }

    /// Decodes the two data bytes (reserved bits dropped).
    ///
    /// # Errors
    /// [`DecodeError::Length`] unless exactly two bytes.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let [m, h] = exact::<2>("boot info acknowledge", data)?;
        Ok(Self {
            write_mask: AckAgents::from_bits_truncate(m),
            handled: AckAgents::from_bits_truncate(h),
        })
    }
}

code_points! {
    /// Boot device selector, parameter 5 byte 1 bits 5:2.
    pub struct BootDevice(u8);
    /// No override.
    NONE = 0x0, "no override";
    /// Force PXE / network boot.
    PXE = 0x1, "pxe";
    /// Force boot from default hard drive.
    DISK = 0x2, "disk";
    /// Hard drive, safe mode.
    DISK_SAFE = 0x3, "disk safe mode";
    /// Diagnostic partition.
    DIAG = 0x4, "diagnostic partition";
    /// CD/DVD.
    CDROM = 0x5, "cd/dvd";
    /// BIOS setup.
    BIOS_SETUP = 0x6, "bios setup";
    /// Remotely connected floppy/primary removable media.
    REMOTE_FLOPPY = 0x7, "remote floppy";
    /// Remotely connected CD/DVD.
    REMOTE_CDROM = 0x8, "remote cd/dvd";
    /// Primary remote media.
    REMOTE_PRIMARY = 0x9, "remote primary media";
    /// Remotely connected hard drive.
    REMOTE_DISK = 0xb, "remote disk";
    /// Floppy / primary removable media.
    FLOPPY = 0xf, "floppy";
}

impl Default for BootDevice {
    fn default() -> Self {
        Self::NONE
    }
}

#[cfg(feature = "serde")]
impl Serialize for BootDevice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> Deserialize<'de> for BootDevice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u8::deserialize(deserializer)?;
        if v > 0x0f {
            return Err(serde::de::Error::custom("boot device is a 4-bit field"));
        }
        Ok(Self(v))
    }
}

/// Parameter 5, Boot Flags (5 bytes).
///
/// ```text
/// byte 0: [7] valid [6] persistent (1) / next boot (0) [5] EFI (1) / legacy (0) [4:0] reserved
/// byte 1: [7] CMOS clear [6] lock keyboard [5:2] boot device [1] screen blank [0] lock reset
/// byte 2: [7] lock power button [6:5] verbosity [4] progress traps [3] password bypass
///         [2] lock sleep button [1:0] console redirection          (kept as a raw byte)
/// byte 3: [7:4] reserved [3] BIOS shared-mode override [2:0] BIOS mux control
/// byte 4: [7:5] reserved [4:0] device instance selector
/// ```
/// Reserved bits are dropped on decode, so `decode(encode(f)) == f` for every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct BootFlags {
    /// Boot flags valid.
    pub valid: bool,
    /// Apply to all future boots (otherwise next boot only).
    pub persistent: bool,
    /// EFI boot (otherwise legacy / PC compatible).
    pub efi: bool,
    /// Clear CMOS.
    pub cmos_clear: bool,
    /// Lock keyboard.
    pub lock_keyboard: bool,
    /// Boot device (4 bits).
    pub device: BootDevice,
    /// Screen blank.
    pub screen_blank: bool,
    /// Lock out reset button.
    pub lock_reset: bool,
    /// Byte 2, verbatim (power button lock, verbosity, traps, password bypass, console).
    pub byte3: u8,
    /// Byte 3 bits 3:0 (shared-mode override, mux control).
    pub bios_mux: u8,
    /// Device instance selector (5 bits).
    pub instance: u8,
}

impl BootFlags {
    /// "Boot from the network": valid, PXE, next boot or persistent, legacy or EFI.
    pub fn network_boot(persistent: bool, efi: bool) -> Self {
        Self {
            valid: true,
            persistent,
            efi,
            device: BootDevice::PXE,
            ..Self::default()
        }
    }

    /// The five data bytes.
    pub fn encode(&self) -> [u8; 5] {
        let b = |v: bool, bit: u8| if v { bit } else { 0 };
        [
            b(self.valid, 0x80) | b(self.persistent, 0x40) | b(self.efi, 0x20),
            b(self.cmos_clear, 0x80)
                | b(self.lock_keyboard, 0x40)
                | ((self.device.0 & 0x0f) << 2)
                | b(self.screen_blank, 0x02)
                | b(self.lock_reset, 0x01),
            self.byte3,
            self.bios_mux & 0x0f,
            self.instance & 0x1f,
        ]
    }

    /// Decodes the five data bytes.
    ///
    /// # Errors
    /// [`DecodeError::Length`] unless exactly five bytes.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let [b1, b2, b3, b4, b5] = exact::<5>("boot flags", data)?;
        Ok(Self {
            valid: b1 & 0x80 != 0,
            persistent: b1 & 0x40 != 0,
            efi: b1 & 0x20 != 0,
            cmos_clear: b2 & 0x80 != 0,
            lock_keyboard: b2 & 0x40 != 0,
            device: BootDevice((b2 >> 2) & 0x0f),
            screen_blank: b2 & 0x02 != 0,
            lock_reset: b2 & 0x01 != 0,
            byte3: b3,
            bios_mux: b4 & 0x0f,
            instance: b5 & 0x1f,
        })
    }

    /// Normalises fields wider on the struct than on the wire (device 4 bits, mux 4 bits,
    /// instance 5 bits), so equality matches what a BMC can store.
    #[must_use]
    pub fn normalized(self) -> Self {
        Self {
            device: BootDevice(self.device.0 & 0x0f),
            bios_mux: self.bios_mux & 0x0f,
            instance: self.instance & 0x1f,
            ..self
        }
    }
}

/// Parameter 6, Boot Initiator Info (9 bytes).
///
/// ```text
/// byte 0: [7:4] reserved [3:0] channel number
/// bytes 1..5: session ID, LS byte first
/// bytes 5..9: boot info timestamp, LS byte first
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct BootInitiatorInfo {
    /// Channel number (4 bits).
    pub channel: u8,
    /// Session ID of the initiator.
    pub session_id: u32,
    /// Boot info timestamp (seconds, IPMI time format).
    pub timestamp: u32,
}

impl BootInitiatorInfo {
    /// The nine data bytes.
    pub fn encode(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        out[0] = self.channel & 0x0f;
        out[1..5].copy_from_slice(&self.session_id.to_le_bytes());
        out[5..9].copy_from_slice(&self.timestamp.to_le_bytes());
        out
    }

    /// Decodes the nine data bytes.
    ///
    /// # Errors
    /// [`DecodeError::Length`] unless exactly nine bytes.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let b = exact::<9>("boot initiator info", data)?;
        Ok(Self {
            channel: b[0] & 0x0f,
            session_id: u32::from_le_bytes([b[1], b[2], b[3], b[4]]),
            timestamp: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
        })
    }
}

/// Bytes of one mailbox (parameter 7) or OEM record block.
pub const BLOCK_LEN: usize = 16;

/// Parameter 7 data, and the block framing of the OEM records: a block selector, then up
/// to 16 bytes.
///
/// ```text
/// Set data:  byte 0: block selector   bytes 1..=16: block data
/// Get data:  byte 0: block selector   bytes 1..=16: block data
/// ```
/// Decoding is lenient about short blocks (some BMCs return fewer than 16 bytes; petitboot
/// copes with 4-byte answers): missing bytes read as zero. More than 16 is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Block number (set selector).
    pub index: u8,
    /// Block data, zero-filled.
    pub data: [u8; BLOCK_LEN],
}

impl Block {
    /// Set/Get data: the block selector then 16 bytes.
    pub fn encode(&self) -> [u8; 1 + BLOCK_LEN] {
        let mut out = [0u8; 1 + BLOCK_LEN];
        out[0] = self.index;
        out[1..].copy_from_slice(&self.data);
        out
    }

    /// Decodes block data (selector byte plus 0..=16 bytes).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] without a selector byte, [`DecodeError::Trailing`] past
    /// 16 data bytes.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let [index, rest @ ..] = data else {
            return Err(DecodeError::Truncated {
                what: "block selector",
                at: 0,
                need: 1,
                have: 0,
            });
        };
        if rest.len() > BLOCK_LEN {
            return Err(DecodeError::Trailing {
                what: "block",
                at: 1 + BLOCK_LEN,
                extra: rest.len() - BLOCK_LEN,
            });
        }
        let mut block = [0u8; BLOCK_LEN];
        block[..rest.len()].copy_from_slice(rest);
        Ok(Self {
            index: *index,
            data: block,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_flags_decode_openbmc_bios_setup_vector() {
        // digest §3.3: 80 18 00 00 00 = valid, next boot, legacy, device 6 (BIOS setup).
        let f = BootFlags::decode(&[0x80, 0x18, 0, 0, 0]).unwrap();
        assert!(f.valid && !f.persistent && !f.efi);
        assert_eq!(f.device, BootDevice::BIOS_SETUP);
        assert_eq!(f.encode(), [0x80, 0x18, 0, 0, 0]);
    }

    #[test]
    fn network_boot_persistent_efi_bytes() {
        assert_eq!(
            BootFlags::network_boot(true, true).encode(),
            [0xe0, 0x04, 0, 0, 0]
        );
        assert_eq!(
            BootFlags::network_boot(false, false).encode(),
            [0x80, 0x04, 0, 0, 0]
        );
    }

    #[test]
    fn fixed_size_params_reject_wrong_lengths() {
        assert!(BootFlags::decode(&[0; 4]).is_err());
        assert!(BootInitiatorInfo::decode(&[0; 10]).is_err());
        assert!(SetInProgress::decode(&[3]).is_err());
        assert!(BootInfoAck::decode(&[1]).is_err());
        assert!(Block::decode(&[0; 18]).is_err());
        assert_eq!(
            Block::decode(&[2, 1, 2, 3, 4]).unwrap().data[..5],
            [1, 2, 3, 4, 0]
        );
    }
}
