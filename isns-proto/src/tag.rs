//! Attribute tags (RFC 4171 §6.1): one table with name, value type and legal length range.

/// The wire type of an attribute value (RFC 4171 §6.1 "Length" and §6.2-§6.11 formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// No value at all (the delimiter).
    None,
    /// 4-byte unsigned integer.
    U32,
    /// 8-byte unsigned integer (timestamps, WWNs).
    U64,
    /// NUL-terminated UTF-8, NUL-padded to a multiple of 4.
    String,
    /// 16-byte IPv6 address (IPv4 carried as `::ffff:a.b.c.d`).
    Ip,
    /// 4-byte port: low 16 bits the port number, bit `0x10000` set for UDP.
    Port,
    /// Bytes without further structure (also every unknown tag).
    Opaque,
}

/// What the tag table knows about one attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagInfo {
    /// Display name.
    pub name: &'static str,
    /// Value type.
    pub kind: ValueKind,
    /// Smallest legal non-zero value length (a zero length, "tag only", is always legal).
    pub min_len: u32,
    /// Largest legal value length.
    pub max_len: u32,
}

/// A vendor-specific tag range (RFC 4171 §6.1), or open-isns' private tags (`0xFFFFxxxx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VendorRange {
    /// 257-384: vendor-specific iSNS server attributes.
    Server,
    /// 385-512: vendor-specific Network Entity attributes.
    Entity,
    /// 513-640: vendor-specific Portal attributes.
    Portal,
    /// 641-768: vendor-specific iSCSI Node attributes.
    IscsiNode,
    /// 769-1024: vendor-specific FC Port Name attributes.
    FcPort,
    /// 1025-1280: vendor-specific FC Node Name attributes.
    FcNode,
    /// 1281-1536: vendor-specific DD Set attributes.
    DdSet,
    /// 1537-1792: vendor-specific DD attributes.
    Dd,
    /// 1793-2048: other vendor-specific attributes.
    Other,
    /// `0xFFFF0000..=0xFFFFFFFF`: open-isns private attributes (its policy object, fake OUI `0xFFFF00`).
    OpenIsnsPrivate,
}

// String lengths include the terminating NUL and padding; RFC 4171 §6.1 gives 4-224 for
// iSCSI names and 4-256 for the other strings.
const NAME_MAX: u32 = 224;
const STR_MAX: u32 = 256;
// An opaque value can never exceed what one PDU payload can carry.
const OPAQUE_MAX: u32 = 65532;

const LOW_SPAN: u32 = 257;
const DD_BASE: u32 = 2049;
const DD_SPAN: u32 = 31;

/// What framing needs to know about a tag, stored inline in two dense arrays (tags 0..=256
/// and the DD/DDS block 2049..=2079) so that the per-attribute lookup is one bounds check
/// and one load, with no second indirection through the row table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    /// Smallest legal non-zero length (0 for tags outside the table).
    pub(crate) min_len: u32,
    /// Largest legal length (`u32::MAX` for tags outside the table: any length).
    pub(crate) max_len: u32,
    /// Value type ([`ValueKind::Opaque`] outside the table).
    pub(crate) kind: ValueKind,
    /// Row in the tag table, [`Rule::NO_ROW`] outside it.
    pub(crate) row: u8,
}

impl Rule {
    const NO_ROW: u8 = u8::MAX;
    /// The rule for a tag the table does not name: any 4-aligned length, opaque.
    pub(crate) const UNKNOWN: Rule = Rule {
        min_len: 0,
        max_len: u32::MAX,
        kind: ValueKind::Opaque,
        row: Rule::NO_ROW,
    };
}

/// Builds the dense `tag - base -> rule` array over `N` tags at compile time.
// Const evaluation has no `try_from`; the table has fewer than 255 rows (asserted below)
// and `N` is at most 257, so neither cast can truncate.
#[allow(clippy::cast_possible_truncation)]
const fn rules<const N: usize>(tags: &[u32], rows: &[TagInfo], base: u32) -> [Rule; N] {
    let mut out = [Rule::UNKNOWN; N];
    let mut i = 0;
    while i < tags.len() {
        let t = tags[i];
        if t >= base && t - base < N as u32 {
            out[(t - base) as usize] = Rule {
                min_len: rows[i].min_len,
                max_len: rows[i].max_len,
                kind: rows[i].kind,
                row: i as u8,
            };
        }
        i += 1;
    }
    out
}

const _: () = assert!(ROWS.len() < Rule::NO_ROW as usize && ROWS.len() == ROW_TAGS.len());

static LOW_RULES: [Rule; LOW_SPAN as usize] = rules::<{ LOW_SPAN as usize }>(ROW_TAGS, ROWS, 0);
static DD_RULES: [Rule; DD_SPAN as usize] = rules::<{ DD_SPAN as usize }>(ROW_TAGS, ROWS, DD_BASE);
static UNKNOWN_RULE: Rule = Rule::UNKNOWN;

impl Tag {
    /// The framing rule for this tag: the table's range and type, or [`Rule::UNKNOWN`].
    #[inline]
    pub(crate) fn rule(self) -> &'static Rule {
        let t = self.0;
        let dense = if t < LOW_SPAN {
            LOW_RULES.get(usize::try_from(t).unwrap_or(usize::MAX))
        } else {
            DD_RULES.get(usize::try_from(t.wrapping_sub(DD_BASE)).unwrap_or(usize::MAX))
        };
        dense.unwrap_or(&UNKNOWN_RULE)
    }
}

macro_rules! tags {
    ($( $(#[$cmeta:meta])* $konst:ident = $val:expr, $name:literal, $kind:ident, $min:expr, $max:expr; )*) => {
        /// An attribute tag (RFC 4171 §6.1). Open newtype: unknown tags decode as opaque and
        /// round-trip byte for byte.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct Tag(pub u32);

        impl Tag {
            $( $(#[$cmeta])* pub const $konst: Tag = Tag($val); )*

            /// Every tag of the table, in table order.
            pub const ALL: &'static [Tag] = &[$(Tag::$konst),*];

            /// The table row for this tag, when it is a standard tag.
            #[inline]
            #[must_use]
            pub fn info(self) -> Option<&'static TagInfo> {
                ROWS.get(usize::from(self.rule().row))
            }
        }

        const ROW_TAGS: &[u32] = &[$($val),*];
        const ROWS: &[TagInfo] = &[$(TagInfo {
            name: $name,
            kind: ValueKind::$kind,
            min_len: $min,
            max_len: $max,
        }),*];
    };
}

tags! {
    /// Delimiter: separates Message Key from Operating attributes.
    DELIMITER = 0, "Delimiter", None, 0, 0;
    /// Entity Identifier (EID).
    ENTITY_IDENTIFIER = 1, "Entity Identifier", String, 4, STR_MAX;
    /// Entity Protocol (1 none, 2 iSCSI, 3 iFCP).
    ENTITY_PROTOCOL = 2, "Entity Protocol", U32, 4, 4;
    /// Management IP Address.
    MANAGEMENT_IP_ADDRESS = 3, "Management IP Address", Ip, 16, 16;
    /// Timestamp (seconds since the epoch).
    TIMESTAMP = 4, "Timestamp", U64, 8, 8;
    /// Protocol Version Range (max in the upper 16 bits, min in the lower).
    PROTOCOL_VERSION_RANGE = 5, "Protocol Version Range", U32, 4, 4;
    /// Registration Period (seconds).
    REGISTRATION_PERIOD = 6, "Registration Period", U32, 4, 4;
    /// Entity Index.
    ENTITY_INDEX = 7, "Entity Index", U32, 4, 4;
    /// Entity Next Index.
    ENTITY_NEXT_INDEX = 8, "Entity Next Index", U32, 4, 4;
    /// Entity ISAKMP Phase-1 proposals.
    ENTITY_ISAKMP_PHASE_1 = 11, "Entity ISAKMP Phase-1", Opaque, 4, OPAQUE_MAX;
    /// Entity Certificate.
    ENTITY_CERTIFICATE = 12, "Entity Certificate", Opaque, 4, OPAQUE_MAX;
    /// Portal IP Address.
    PORTAL_IP_ADDRESS = 16, "Portal IP Address", Ip, 16, 16;
    /// Portal TCP/UDP Port.
    PORTAL_PORT = 17, "Portal TCP/UDP Port", Port, 4, 4;
    /// Portal Symbolic Name.
    PORTAL_SYMBOLIC_NAME = 18, "Portal Symbolic Name", String, 4, STR_MAX;
    /// ESI Interval (seconds).
    ESI_INTERVAL = 19, "ESI Interval", U32, 4, 4;
    /// ESI Port.
    ESI_PORT = 20, "ESI Port", Port, 4, 4;
    /// Portal Index.
    PORTAL_INDEX = 22, "Portal Index", U32, 4, 4;
    /// SCN Port.
    SCN_PORT = 23, "SCN Port", Port, 4, 4;
    /// Portal Next Index.
    PORTAL_NEXT_INDEX = 24, "Portal Next Index", U32, 4, 4;
    /// Portal Security Bitmap.
    PORTAL_SECURITY_BITMAP = 27, "Portal Security Bitmap", U32, 4, 4;
    /// Portal ISAKMP Phase-1 proposals.
    PORTAL_ISAKMP_PHASE_1 = 28, "Portal ISAKMP Phase-1", Opaque, 4, OPAQUE_MAX;
    /// Portal ISAKMP Phase-2 proposals.
    PORTAL_ISAKMP_PHASE_2 = 29, "Portal ISAKMP Phase-2", Opaque, 4, OPAQUE_MAX;
    /// Portal Certificate.
    PORTAL_CERTIFICATE = 31, "Portal Certificate", Opaque, 4, OPAQUE_MAX;
    /// iSCSI Name.
    ISCSI_NAME = 32, "iSCSI Name", String, 4, NAME_MAX;
    /// iSCSI Node Type bitmap.
    ISCSI_NODE_TYPE = 33, "iSCSI Node Type", U32, 4, 4;
    /// iSCSI Alias.
    ISCSI_ALIAS = 34, "iSCSI Alias", String, 4, STR_MAX;
    /// iSCSI SCN Bitmap.
    ISCSI_SCN_BITMAP = 35, "iSCSI SCN Bitmap", U32, 4, 4;
    /// iSCSI Node Index.
    ISCSI_NODE_INDEX = 36, "iSCSI Node Index", U32, 4, 4;
    /// WWNN Token.
    WWNN_TOKEN = 37, "WWNN Token", U64, 8, 8;
    /// iSCSI Node Next Index.
    ISCSI_NODE_NEXT_INDEX = 38, "iSCSI Node Next Index", U32, 4, 4;
    /// iSCSI AuthMethod.
    ISCSI_AUTH_METHOD = 42, "iSCSI AuthMethod", String, 4, STR_MAX;
    /// PG iSCSI Name.
    PG_ISCSI_NAME = 48, "PG iSCSI Name", String, 4, NAME_MAX;
    /// PG Portal IP Address.
    PG_PORTAL_IP_ADDR = 49, "PG Portal IP Addr", Ip, 16, 16;
    /// PG Portal TCP/UDP Port.
    PG_PORTAL_PORT = 50, "PG Portal TCP/UDP Port", Port, 4, 4;
    /// PG Tag (PGT); zero length means NULL PGT.
    PG_TAG = 51, "PG Tag", U32, 4, 4;
    /// PG Index.
    PG_INDEX = 52, "PG Index", U32, 4, 4;
    /// PG Next Index.
    PG_NEXT_INDEX = 53, "PG Next Index", U32, 4, 4;
    /// FC Port Name WWPN.
    FC_PORT_NAME_WWPN = 64, "FC Port Name WWPN", U64, 8, 8;
    /// Port ID.
    PORT_ID = 65, "Port ID", U32, 4, 4;
    /// FC Port Type.
    FC_PORT_TYPE = 66, "FC Port Type", U32, 4, 4;
    /// Symbolic Port Name.
    SYMBOLIC_PORT_NAME = 67, "Symbolic Port Name", String, 4, STR_MAX;
    /// Fabric Port Name.
    FABRIC_PORT_NAME = 68, "Fabric Port Name", U64, 8, 8;
    /// Hard Address.
    HARD_ADDRESS = 69, "Hard Address", U32, 4, 4;
    /// Port IP-Address.
    PORT_IP_ADDRESS = 70, "Port IP-Address", Ip, 16, 16;
    /// Class of Service.
    CLASS_OF_SERVICE = 71, "Class of Service", U32, 4, 4;
    /// FC-4 Types.
    FC4_TYPES = 72, "FC-4 Types", Opaque, 32, 32;
    /// FC-4 Descriptor.
    FC4_DESCRIPTOR = 73, "FC-4 Descriptor", String, 4, STR_MAX;
    /// FC-4 Features.
    FC4_FEATURES = 74, "FC-4 Features", Opaque, 128, 128;
    /// iFCP SCN bitmap.
    IFCP_SCN_BITMAP = 75, "iFCP SCN bitmap", U32, 4, 4;
    /// Port Role.
    PORT_ROLE = 76, "Port Role", U32, 4, 4;
    /// Permanent Port Name.
    PERMANENT_PORT_NAME = 77, "Permanent Port Name", U64, 8, 8;
    /// FC-4 Type Code.
    FC4_TYPE_CODE = 95, "FC-4 Type Code", U32, 4, 4;
    /// FC Node Name WWNN.
    FC_NODE_NAME_WWNN = 96, "FC Node Name WWNN", U64, 8, 8;
    /// Symbolic Node Name.
    SYMBOLIC_NODE_NAME = 97, "Symbolic Node Name", String, 4, STR_MAX;
    /// Node IP-Address.
    NODE_IP_ADDRESS = 98, "Node IP-Address", Ip, 16, 16;
    /// Node IPA.
    NODE_IPA = 99, "Node IPA", U64, 8, 8;
    /// Proxy iSCSI Name.
    PROXY_ISCSI_NAME = 101, "Proxy iSCSI Name", String, 4, NAME_MAX;
    /// Switch Name.
    SWITCH_NAME = 128, "Switch Name", U64, 8, 8;
    /// Preferred ID.
    PREFERRED_ID = 129, "Preferred ID", U32, 4, 4;
    /// Assigned ID.
    ASSIGNED_ID = 130, "Assigned ID", U32, 4, 4;
    /// Virtual_Fabric_ID.
    VIRTUAL_FABRIC_ID = 131, "Virtual_Fabric_ID", String, 4, STR_MAX;
    /// iSNS Server Vendor OUI.
    ISNS_SERVER_VENDOR_OUI = 256, "iSNS Server Vendor OUI", U32, 4, 4;
    /// DD_Set ID.
    DD_SET_ID = 2049, "DD_Set ID", U32, 4, 4;
    /// DD_Set Symbolic Name.
    DD_SET_SYMBOLIC_NAME = 2050, "DD_Set Sym Name", String, 4, STR_MAX;
    /// DD_Set Status.
    DD_SET_STATUS = 2051, "DD_Set Status", U32, 4, 4;
    /// DD_Set_Next_ID.
    DD_SET_NEXT_ID = 2052, "DD_Set_Next_ID", U32, 4, 4;
    /// DD_ID.
    DD_ID = 2065, "DD_ID", U32, 4, 4;
    /// DD_Symbolic Name.
    DD_SYMBOLIC_NAME = 2066, "DD_Symbolic Name", String, 4, STR_MAX;
    /// DD_Member iSCSI Index.
    DD_MEMBER_ISCSI_INDEX = 2067, "DD_Member iSCSI Index", U32, 4, 4;
    /// DD_Member iSCSI Name.
    DD_MEMBER_ISCSI_NAME = 2068, "DD_Member iSCSI Name", String, 4, NAME_MAX;
    /// DD_Member FC Port Name (open-isns types it as a string, so any 4-aligned length up to 256).
    DD_MEMBER_FC_PORT_NAME = 2069, "DD_Member FC Port Name", Opaque, 4, STR_MAX;
    /// DD_Member Portal Index.
    DD_MEMBER_PORTAL_INDEX = 2070, "DD_Member Portal Index", U32, 4, 4;
    /// DD_Member Portal IP Addr.
    DD_MEMBER_PORTAL_IP_ADDR = 2071, "DD_Member Portal IP Addr", Ip, 16, 16;
    /// DD_Member Portal TCP/UDP Port.
    DD_MEMBER_PORTAL_PORT = 2072, "DD_Member Portal TCP/UDP", Port, 4, 4;
    /// DD_Features.
    DD_FEATURES = 2078, "DD_Features", U32, 4, 4;
    /// DD_ID Next ID.
    DD_ID_NEXT_ID = 2079, "DD_ID Next ID", U32, 4, 4;
}

impl Tag {
    /// The display name when the tag is in the table.
    #[must_use]
    pub fn name(self) -> Option<&'static str> {
        self.info().map(|i| i.name)
    }

    /// The value type: the table's, or [`ValueKind::Opaque`] for unknown and vendor tags.
    #[inline]
    #[must_use]
    pub fn kind(self) -> ValueKind {
        self.rule().kind
    }

    /// The raw wire number.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The vendor-specific range this tag falls in, if any.
    #[must_use]
    pub const fn vendor_range(self) -> Option<VendorRange> {
        match self.0 {
            257..=384 => Some(VendorRange::Server),
            385..=512 => Some(VendorRange::Entity),
            513..=640 => Some(VendorRange::Portal),
            641..=768 => Some(VendorRange::IscsiNode),
            769..=1024 => Some(VendorRange::FcPort),
            1025..=1280 => Some(VendorRange::FcNode),
            1281..=1536 => Some(VendorRange::DdSet),
            1537..=1792 => Some(VendorRange::Dd),
            1793..=2048 => Some(VendorRange::Other),
            0xFFFF_0000..=0xFFFF_FFFF => Some(VendorRange::OpenIsnsPrivate),
            _ => None,
        }
    }

    /// True when `len` is legal for this tag: zero ("tag only"), or a multiple of 4 inside
    /// the table's range; any multiple of 4 for tags outside the table.
    #[inline]
    #[must_use]
    pub fn len_is_legal(self, len: u32) -> bool {
        if len == 0 {
            return true;
        }
        if !len.is_multiple_of(4) {
            return false;
        }
        let r = self.rule();
        len >= r.min_len && len <= r.max_len
    }
}

impl core::fmt::Debug for Tag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{}({})", n, self.0),
            None => write!(f, "Tag({})", self.0),
        }
    }
}

impl core::fmt::Display for Tag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<u32> for Tag {
    fn from(v: u32) -> Self {
        Tag(v)
    }
}

impl From<Tag> for u32 {
    fn from(v: Tag) -> Self {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_row_has_a_consistent_length_range() {
        for t in Tag::ALL {
            let i = t.info().unwrap();
            assert!(i.min_len <= i.max_len, "{t:?}");
            assert_eq!(i.min_len % 4, 0, "{t:?}");
            match i.kind {
                ValueKind::U32 | ValueKind::Port => assert_eq!((i.min_len, i.max_len), (4, 4)),
                ValueKind::U64 => assert_eq!((i.min_len, i.max_len), (8, 8)),
                ValueKind::Ip => assert_eq!((i.min_len, i.max_len), (16, 16)),
                ValueKind::None => assert_eq!(i.max_len, 0),
                ValueKind::String | ValueKind::Opaque => assert!(i.max_len >= 4),
            }
        }
    }

    #[test]
    fn dense_rules_agree_with_a_scan_of_the_table() {
        let probes = (0..=4200u32).chain([
            0xFFFF_0000,
            0xFFFF_0601,
            u32::MAX,
            u32::MAX - DD_BASE + 1,
            DD_BASE.wrapping_sub(1),
        ]);
        for t in probes {
            let row = Tag::ALL.iter().position(|x| x.0 == t).map(|i| &ROWS[i]);
            assert_eq!(Tag(t).info(), row, "tag {t}");
            let r = Tag(t).rule();
            match row {
                Some(i) => {
                    assert_eq!(
                        (r.min_len, r.max_len, r.kind),
                        (i.min_len, i.max_len, i.kind)
                    );
                }
                None => assert_eq!(*r, Rule::UNKNOWN, "tag {t}"),
            }
        }
    }

    #[test]
    fn vendor_ranges_are_recognised() {
        assert_eq!(Tag(300).vendor_range(), Some(VendorRange::Server));
        assert_eq!(Tag(641).vendor_range(), Some(VendorRange::IscsiNode));
        assert_eq!(
            Tag(0xFFFF_0601).vendor_range(),
            Some(VendorRange::OpenIsnsPrivate)
        );
        assert_eq!(Tag::ISCSI_NAME.vendor_range(), None);
        assert_eq!(Tag(641).kind(), ValueKind::Opaque);
    }

    #[test]
    fn unknown_tag_debug_prints_number() {
        assert_eq!(format!("{:?}", Tag(9999)), "Tag(9999)");
        assert_eq!(format!("{:?}", Tag::ISCSI_NAME), "iSCSI Name(32)");
    }

    #[test]
    fn rejects_name_longer_than_224() {
        assert!(Tag::ISCSI_NAME.len_is_legal(224));
        assert!(!Tag::ISCSI_NAME.len_is_legal(228));
        assert!(!Tag::ENTITY_PROTOCOL.len_is_legal(8));
        assert!(Tag::ENTITY_PROTOCOL.len_is_legal(0));
    }
}
