//! The names a client passes to the server: an iSCSI node's name and an entity's identifier.
//! Distinct types, so the two cannot be swapped, each checked against what RFC 4171 §6
//! lets its attribute carry.

use core::fmt;

/// Why a string is not a usable name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of name.
        what: &'static str,
    },
    /// The name is longer than its attribute can carry (its NUL terminator included).
    #[error("{what} is {len} bytes, more than the {max} its attribute allows")]
    TooLong {
        /// Which kind of name.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The largest length.
        max: usize,
    },
    /// The name contains a NUL or an ASCII control character.
    #[error("{what} contains a NUL or control character")]
    BadCharacter {
        /// Which kind of name.
        what: &'static str,
    },
}

fn check(what: &'static str, name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max,
        });
    }
    if name.bytes().any(|b| b.is_ascii_control()) {
        return Err(NameError::BadCharacter { what });
    }
    Ok(())
}

/// An iSCSI node's name (iSCSI Name, tag 32): 1 to 223 bytes, no NUL or control character.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(String);

impl NodeName {
    /// Largest name: RFC 4171 §6.4.1 allows 224 bytes with the NUL terminator.
    pub const MAX_LEN: usize = 223;

    /// Checks `name`.
    ///
    /// # Errors
    /// [`NameError`] for an empty, too long or control-character-bearing name.
    pub fn new(name: impl Into<String>) -> Result<NodeName, NameError> {
        let name = name.into();
        check("iSCSI name", &name, Self::MAX_LEN)?;
        Ok(NodeName(name))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An entity's identifier (Entity Identifier, tag 1): 1 to 255 bytes, no NUL or control
/// character.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(String);

impl EntityId {
    /// Largest identifier: RFC 4171 §6.2.1 allows 256 bytes with the NUL terminator.
    pub const MAX_LEN: usize = 255;

    /// Checks `id`.
    ///
    /// # Errors
    /// [`NameError`] for an empty, too long or control-character-bearing identifier.
    pub fn new(id: impl Into<String>) -> Result<EntityId, NameError> {
        let id = id.into();
        check("entity identifier", &id, Self::MAX_LEN)?;
        Ok(EntityId(id))
    }

    /// The identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_like {
    ($t:ty) => {
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<&str> for $t {
            type Error = NameError;

            fn try_from(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl core::str::FromStr for $t {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

string_like!(NodeName);
string_like!(EntityId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_too_long_and_control_characters() {
        assert_eq!(
            NodeName::new(""),
            Err(NameError::Empty { what: "iSCSI name" })
        );
        assert_eq!(
            NodeName::new("a".repeat(224)),
            Err(NameError::TooLong {
                what: "iSCSI name",
                len: 224,
                max: 223
            })
        );
        assert_eq!(
            EntityId::new("a\0b"),
            Err(NameError::BadCharacter {
                what: "entity identifier"
            })
        );
        assert_eq!(
            EntityId::new("").map_err(|e| e.to_string()),
            Err("entity identifier is empty".to_owned())
        );
    }

    #[test]
    fn accepts_the_longest_names() {
        assert_eq!(NodeName::new("a".repeat(223)).unwrap().as_str().len(), 223);
        assert_eq!(
            EntityId::new("e".repeat(255)).unwrap().to_string().len(),
            255
        );
        let n: NodeName = "iqn.2026-01.example:m".parse().unwrap();
        assert_eq!(n.as_ref(), "iqn.2026-01.example:m");
    }
}
