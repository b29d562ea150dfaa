//! Domain identifiers: names of targets, initiators, entities, servers, requests and tags.
//!
//! These are the engine's own types; the driver converts from whatever the wire carried.

use core::borrow::Borrow;
use core::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta] $name:ident;)*) => {$(
        #[$doc]
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string as this identifier.
            #[must_use]
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    )*};
}

string_id! {
    /// An iSCSI name (`iqn.…`, `eui.…`, `naa.…`) of a target or an initiator.
    IscsiName;
    /// An iSNS network entity identifier (EID): one storage system or host.
    EntityId;
    /// The name of a server that wants to boot (used in its initiator name and its DD name).
    ServerName;
    /// A caller-chosen request identifier; the same ID always gets the same answer.
    RequestId;
    /// An operator-assigned label on a target (pool, media class, rack…).
    Tag;
}

/// A Discovery Domain identifier as iSNS assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DdId(pub u32);

impl fmt::Display for DdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DD {}", self.0)
    }
}

/// A logical unit number on a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LunNumber(pub u64);

impl fmt::Display for LunNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A LUN identified across restarts: its target's name and its number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LunRef {
    /// The target that exports the LUN.
    pub target: IscsiName,
    /// The LUN number on that target.
    pub lun: LunNumber,
}

impl LunRef {
    /// A LUN reference from a target name and a number.
    #[must_use]
    pub fn new(target: impl Into<IscsiName>, lun: u64) -> Self {
        Self {
            target: target.into(),
            lun: LunNumber(lun),
        }
    }
}

impl fmt::Display for LunRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} LUN {}", self.target, self.lun)
    }
}

/// Formats a byte count for people: `40 GiB`, `1.5 TiB`, `512 bytes`.
#[must_use]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut unit = 0;
    let mut scale: u64 = 1024;
    while unit + 1 < UNITS.len() && bytes / scale >= 1024 {
        scale *= 1024;
        unit += 1;
    }
    let whole = bytes / scale;
    // One decimal, truncated, shown only when not zero: "1.5 TiB", "40 GiB".
    let tenth = u128::from(bytes % scale) * 10 / u128::from(scale);
    if tenth == 0 {
        format!("{whole} {}", UNITS[unit])
    } else {
        format!("{whole}.{tenth} {}", UNITS[unit])
    }
}

/// One gibibyte, for callers writing sizes.
pub const GIB: u64 = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units_with_one_decimal() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(40 * GIB), "40 GiB");
        assert_eq!(human_bytes(1536 * GIB), "1.5 TiB");
        assert_eq!(human_bytes(u64::MAX), "15.9 EiB");
    }

    #[test]
    fn identifiers_display_as_their_text() {
        let lun = LunRef::new("iqn.2024-01.com.example:t1", 3);
        assert_eq!(lun.to_string(), "iqn.2024-01.com.example:t1 LUN 3");
    }
}
