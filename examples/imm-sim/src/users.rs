//! Per-BMC IPMI users: the `--user` administrator plus an optional TOML users file.
//!
//! ```toml
//! # Users of every BMC (besides --user).
//! [[user]]
//! name = "operator"
//! password = { env = "IMM_OPERATOR_PASSWORD" }   # or { file = "…" } or { value = "…" }
//! privilege = "operator"                          # user | operator | administrator
//!
//! # Users of one BMC, by name (ip_port).
//! [bmc."127.0.0.1_9002"]
//! inherit = false                                 # default true: also the users above
//! [[bmc."127.0.0.1_9002".user]]
//! name = "alice"
//! password = { value = "alice-pass" }
//! privilege = "administrator"
//! ```
//! Names are at most 16 bytes and unique per BMC, passwords at most 20 bytes (IPMI v2.0
//! RAKP key length); a `[bmc."…"]` table naming a BMC this process does not emulate is an
//! error (a typo would otherwise leave that BMC with the wrong users).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipmi_iscsi::rmcp::{MAX_USERNAME, Password, Privilege, User};
use serde::Deserialize;
use zeroize::Zeroize;

use super::spec::BmcName;
use crate::password::PasswordSource;

/// Why the users cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read users file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("users file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (line and column).
        message: String,
    },
    /// A user entry breaks a rule.
    #[error("user {user:?} of {scope}: {reason}")]
    Invalid {
        /// `every bmc` or `bmc NAME`.
        scope: String,
        /// The user name.
        user: String,
        /// The rule broken.
        reason: String,
    },
    /// A table for a BMC that is not emulated.
    #[error(
        "users file names bmc {name:?}, which no --bmc emulates (names look like 127.0.0.1_9001)"
    )]
    UnknownBmc {
        /// The name in the file.
        name: String,
    },
    /// A BMC ends up with nobody able to log in.
    #[error(
        "bmc {bmc} has no users: give --user with --password-env/--password-file, or users in --users-file"
    )]
    NoUsers {
        /// The BMC.
        bmc: BmcName,
    },
}

/// One user entry of the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// User name (1..=16 bytes).
    pub name: String,
    /// Where the password comes from.
    pub password: PasswordSource,
    /// Highest privilege (`user`, `operator`, `administrator`; default administrator).
    #[serde(default = "default_privilege")]
    pub privilege: String,
}

fn default_privilege() -> String {
    "administrator".to_owned()
}

/// One `[bmc."…"]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BmcUsers {
    /// Also give this BMC the users of every BMC (default true).
    #[serde(default = "yes")]
    pub inherit: bool,
    /// This BMC's own users.
    #[serde(default, rename = "user")]
    pub users: Vec<UserEntry>,
}

fn yes() -> bool {
    true
}

/// The users file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// Users of every BMC.
    #[serde(default, rename = "user")]
    pub users: Vec<UserEntry>,
    /// Users of single BMCs, by name.
    #[serde(default, rename = "bmc")]
    pub bmcs: BTreeMap<String, BmcUsers>,
}

impl UsersFile {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`UsersError::Read`] or [`UsersError::Parse`].
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the file's text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`UsersError::Parse`].
    pub fn parse(text: &str, path: &Path) -> Result<Self, UsersError> {
        toml::from_str(text).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

/// Parses a privilege name (`user`, `operator`, `administrator`/`admin`, `callback`, `oem`).
#[must_use]
pub fn parse_privilege(text: &str) -> Option<Privilege> {
    Some(match text.to_ascii_lowercase().as_str() {
        "callback" => Privilege::CALLBACK,
        "user" => Privilege::USER,
        "operator" => Privilege::OPERATOR,
        "administrator" | "admin" => Privilege::ADMINISTRATOR,
        "oem" => Privilege::OEM,
        _ => return None,
    })
}

/// Builds one responder user, checking the name, password and privilege.
///
/// # Errors
/// [`UsersError::Invalid`] naming the rule broken (never the password).
pub fn make_user(
    scope: &str,
    name: &str,
    mut password: String,
    privilege: Privilege,
) -> Result<User, UsersError> {
    let invalid = |reason: String| UsersError::Invalid {
        scope: scope.to_owned(),
        user: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_USERNAME {
        password.zeroize();
        return Err(invalid(format!(
            "names are 1..={MAX_USERNAME} bytes, this one is {}",
            name.len()
        )));
    }
    if !name.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        password.zeroize();
        return Err(invalid(
            "names are printable ascii without spaces".to_owned(),
        ));
    }
    let wrapped = Password::new(&password);
    password.zeroize();
    let password = wrapped.map_err(|e| invalid(e.to_string()))?;
    Ok(User {
        name: name.as_bytes().to_vec(),
        password,
        max_privilege: privilege,
    })
}

fn entry_user(scope: &str, e: &UserEntry) -> Result<User, UsersError> {
    let privilege = parse_privilege(&e.privilege).ok_or_else(|| UsersError::Invalid {
        scope: scope.to_owned(),
        user: e.name.clone(),
        reason: format!(
            "privilege {:?} is not user, operator or administrator",
            e.privilege
        ),
    })?;
    let password = e
        .password
        .resolve(&format!("user {} of {scope}", e.name))
        .map_err(|err| UsersError::Invalid {
            scope: scope.to_owned(),
            user: e.name.clone(),
            reason: err,
        })?;
    make_user(scope, &e.name, password, privilege)
}

fn push_unique(scope: &str, users: &mut Vec<User>, user: User) -> Result<(), UsersError> {
    if users.iter().any(|u| u.name == user.name) {
        return Err(UsersError::Invalid {
            scope: scope.to_owned(),
            user: String::from_utf8_lossy(&user.name).into_owned(),
            reason: "listed twice for this bmc".to_owned(),
        });
    }
    users.push(user);
    Ok(())
}

/// The users of each BMC in `names`, in that order.
///
/// `admin` is the `--user` administrator (given to every BMC that inherits); `file` the
/// parsed users file. Passwords are resolved once per entry.
///
/// # Errors
/// [`UsersError`] for an invalid entry, an unknown BMC table, or a BMC left without users.
pub fn users_per_bmc(
    names: &[BmcName],
    admin: Option<&User>,
    file: Option<&UsersFile>,
) -> Result<Vec<Vec<User>>, UsersError> {
    let empty = UsersFile::default();
    let file = file.unwrap_or(&empty);
    for name in file.bmcs.keys() {
        if !names.iter().any(|n| n.as_str() == name) {
            return Err(UsersError::UnknownBmc { name: name.clone() });
        }
    }
    let mut common = Vec::new();
    if let Some(a) = admin {
        common.push(a.clone());
    }
    for e in &file.users {
        push_unique("every bmc", &mut common, entry_user("every bmc", e)?)?;
    }
    let mut own: BTreeMap<&str, (bool, Vec<User>)> = BTreeMap::new();
    for (name, table) in &file.bmcs {
        let scope = format!("bmc {name}");
        let mut users = Vec::new();
        for e in &table.users {
            push_unique(&scope, &mut users, entry_user(&scope, e)?)?;
        }
        own.insert(name.as_str(), (table.inherit, users));
    }
    names
        .iter()
        .map(|name| {
            let scope = format!("bmc {name}");
            let mut users = Vec::new();
            let (inherit, mine) = own
                .remove(name.as_str())
                .unwrap_or_else(|| (true, Vec::new()));
            if inherit {
                users.extend(common.iter().cloned());
            }
            for u in mine {
                push_unique(&scope, &mut users, u)?;
            }
            if users.is_empty() {
                return Err(UsersError::NoUsers { bmc: name.clone() });
            }
            Ok(users)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<BmcName> {
        ["127.0.0.1:9001", "127.0.0.1:9002"]
            .iter()
            .map(|a| BmcName::of(a.parse().unwrap()))
            .collect()
    }

    fn admin() -> User {
        make_user("cli", "admin", "password".into(), Privilege::ADMINISTRATOR).unwrap()
    }

    const FILE: &str = r#"
[[user]]
name = "viewer"
password = { value = "viewer-pass" }
privilege = "user"

[bmc."127.0.0.1_9002"]
inherit = false
[[bmc."127.0.0.1_9002".user]]
name = "alice"
password = { value = "alice-pass" }
"#;

    #[test]
    fn bmc_tables_replace_or_extend_the_common_users() {
        let file = UsersFile::parse(FILE, Path::new("u.toml")).unwrap();
        let per = users_per_bmc(&names(), Some(&admin()), Some(&file)).unwrap();
        let list = |i: usize| {
            per[i]
                .iter()
                .map(|u| (String::from_utf8(u.name.clone()).unwrap(), u.max_privilege))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            list(0),
            [
                ("admin".to_owned(), Privilege::ADMINISTRATOR),
                ("viewer".to_owned(), Privilege::USER)
            ]
        );
        assert_eq!(list(1), [("alice".to_owned(), Privilege::ADMINISTRATOR)]);
    }

    #[test]
    fn unknown_bmc_table_duplicates_and_empty_bmcs_are_errors() {
        let file = UsersFile::parse(
            "[bmc.\"127.0.0.1_9009\"]\ninherit = true\n",
            Path::new("u.toml"),
        )
        .unwrap();
        assert!(matches!(
            users_per_bmc(&names(), Some(&admin()), Some(&file)),
            Err(UsersError::UnknownBmc { name }) if name == "127.0.0.1_9009"
        ));
        let dup = UsersFile::parse(
            "[[user]]\nname = \"admin\"\npassword = { value = \"x\" }\n",
            Path::new("u.toml"),
        )
        .unwrap();
        assert!(matches!(
            users_per_bmc(&names(), Some(&admin()), Some(&dup)),
            Err(UsersError::Invalid { user, .. }) if user == "admin"
        ));
        assert!(matches!(
            users_per_bmc(&names(), None, None),
            Err(UsersError::NoUsers { .. })
        ));
    }

    #[test]
    fn bad_entries_name_the_rule_but_never_the_password() {
        let long = UsersFile::parse(
            "[[user]]\nname = \"u\"\npassword = { value = \"123456789012345678901\" }\n",
            Path::new("u.toml"),
        )
        .unwrap();
        let e = users_per_bmc(&names(), None, Some(&long))
            .unwrap_err()
            .to_string();
        assert!(e.contains("user \"u\""), "{e}");
        assert!(!e.contains("123456789012345678901"), "{e}");
        let bad_priv = UsersFile::parse(
            "[[user]]\nname = \"u\"\npassword = { value = \"p\" }\nprivilege = \"root\"\n",
            Path::new("u.toml"),
        )
        .unwrap();
        assert!(
            users_per_bmc(&names(), None, Some(&bad_priv))
                .unwrap_err()
                .to_string()
                .contains("\"root\"")
        );
        assert!(matches!(
            UsersFile::parse("[[user]]\nname = 1\n", Path::new("u.toml")),
            Err(UsersError::Parse { .. })
        ));
    }
}
