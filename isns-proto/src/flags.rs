//! Bit sets carried in the header and in attribute values (RFC 4171 §5.1.4, §6.2-§6.11).

bitflags::bitflags! {
    /// iSNSP header flags (RFC 4171 §5.1.4; RFC bits 16-31, most significant first).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PduFlags: u16 {
        /// Sender is an iSNS client.
        const CLIENT = 0x8000;
        /// Sender is an iSNS server.
        const SERVER = 0x4000;
        /// An authentication block follows the payload.
        const AUTH = 0x2000;
        /// Replace flag (DevAttrReg only).
        const REPLACE = 0x1000;
        /// Last PDU of the iSNS message.
        const LAST_PDU = 0x0800;
        /// First PDU of the iSNS message.
        const FIRST_PDU = 0x0400;
    }
}

impl PduFlags {
    /// FIRST|LAST: a message carried in a single PDU.
    pub const SINGLE: PduFlags = PduFlags::FIRST_PDU.union(PduFlags::LAST_PDU);
}

bitflags::bitflags! {
    /// iSCSI Node Type (tag 33, RFC 4171 §6.4.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct NodeType: u32 {
        /// Target.
        const TARGET = 0x1;
        /// Initiator.
        const INITIATOR = 0x2;
        /// Control (management) node.
        const CONTROL = 0x4;
    }
}

bitflags::bitflags! {
    /// iSCSI SCN Bitmap (tag 35, RFC 4171 §6.4.4).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ScnBitmap: u32 {
        /// DD/DDS member added.
        const MEMBER_ADDED = 0x01;
        /// DD/DDS member removed.
        const MEMBER_REMOVED = 0x02;
        /// Object updated.
        const OBJECT_UPDATED = 0x04;
        /// Object added.
        const OBJECT_ADDED = 0x08;
        /// Object removed.
        const OBJECT_REMOVED = 0x10;
        /// Management registration/SCN (Control nodes only).
        const MANAGEMENT = 0x20;
        /// Target and self information only.
        const TARGET_AND_SELF_ONLY = 0x40;
        /// Initiator and self information only.
        const INITIATOR_AND_SELF_ONLY = 0x80;
    }
}

bitflags::bitflags! {
    /// Portal Security Bitmap (tag 27, RFC 4171 §6.3.9).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PortalSecurity: u32 {
        /// The bitmap is valid.
        const BITMAP_VALID = 0x01;
        /// IKE/IPsec enabled.
        const IKE_IPSEC = 0x02;
        /// Main mode enabled.
        const MAIN_MODE = 0x04;
        /// Aggressive mode enabled.
        const AGGRESSIVE_MODE = 0x08;
        /// PFS enabled.
        const PFS = 0x10;
        /// Transport mode preferred.
        const TRANSPORT_MODE = 0x20;
        /// Tunnel mode preferred.
        const TUNNEL_MODE = 0x40;
    }
}

bitflags::bitflags! {
    /// The upper half of a TCP/UDP port attribute (tags 17, 20, 23, 50, 2072).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PortFlags: u32 {
        /// The port is UDP (clear: TCP).
        const UDP = 0x0001_0000;
    }
}

bitflags::bitflags! {
    /// DD_Features (tag 2078, RFC 4171 §6.11.1.10).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DdFeatures: u32 {
        /// Boot List enabled.
        const BOOT_LIST = 0x1;
    }
}

bitflags::bitflags! {
    /// DD_Set Status (tag 2051, RFC 4171 §6.11.1.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DdSetStatus: u32 {
        /// The DD Set is enabled.
        const ENABLED = 0x1;
    }
}

code_points! {
    /// Entity Protocol (tag 2, RFC 4171 §6.2.2). Open newtype.
    pub struct EntityProtocol(u32);
    /// No protocol.
    NO_PROTOCOL = 1, "No Protocol";
    /// iSCSI.
    ISCSI = 2, "iSCSI";
    /// iFCP.
    IFCP = 3, "iFCP";
}

/// A TCP/UDP port attribute value: low 16 bits the port, upper bits [`PortFlags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    /// Port number.
    pub number: u16,
    /// Flag bits (UDP, and any reserved bits exactly as received).
    pub flags: PortFlags,
}

impl Port {
    /// A TCP port.
    #[must_use]
    pub const fn tcp(number: u16) -> Port {
        Port {
            number,
            flags: PortFlags::empty(),
        }
    }

    /// A UDP port.
    #[must_use]
    pub const fn udp(number: u16) -> Port {
        Port {
            number,
            flags: PortFlags::UDP,
        }
    }

    /// True for a UDP port.
    #[must_use]
    pub const fn is_udp(self) -> bool {
        self.flags.contains(PortFlags::UDP)
    }

    /// Splits a wire value; reserved bits are kept so the value re-encodes unchanged.
    #[must_use]
    #[inline]
    pub fn from_wire(v: u32) -> Port {
        let [_, _, hi, lo] = v.to_be_bytes();
        Port {
            number: u16::from_be_bytes([hi, lo]),
            flags: PortFlags::from_bits_retain(v & 0xFFFF_0000),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn to_wire(self) -> u32 {
        (self.flags.bits() & 0xFFFF_0000) | u32::from(self.number)
    }
}

impl core::fmt::Display for Port {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.number,
            if self.is_udp() { "udp" } else { "tcp" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keeps_udp_bit_and_reserved_bits() {
        let p = Port::from_wire(0x0001_0CBC);
        assert_eq!(p.number, 3260);
        assert!(p.is_udp());
        assert_eq!(Port::from_wire(0x8000_0001).to_wire(), 0x8000_0001);
        assert_eq!(Port::tcp(3205).to_string(), "3205/tcp");
    }

    #[test]
    fn single_pdu_flags_are_first_and_last() {
        assert_eq!((PduFlags::CLIENT | PduFlags::SINGLE).bits(), 0x8C00);
    }
}
