//! Where a BMC user's password comes from: `--password-env`, `--password-file`, or a users
//! file entry `password = { env = "…" } | { file = "…" } | { value = "…" }`.
//!
//! Passwords never come from a flag (they would show in the process list), and `Debug`
//! never prints an inline one.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// The origin of one password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum PasswordSource {
    /// Read from this environment variable.
    Env {
        /// The variable's name.
        env: String,
    },
    /// The first line of this file, without its line end.
    File {
        /// The file's path.
        file: PathBuf,
    },
    /// Written in the users file itself (tests; prefer `env` or `file`).
    Value {
        /// The password.
        value: String,
    },
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env { env } => write!(f, "env:{env}"),
            Self::File { file } => write!(f, "file:{}", file.display()),
            Self::Value { .. } => f.write_str("value:(redacted)"),
        }
    }
}

impl PasswordSource {
    /// Reads the password for `who` (named in the error, never the password itself).
    ///
    /// # Errors
    /// A sentence naming `who` and the cause: an unset variable, an unreadable file, or an
    /// empty password.
    pub fn resolve(&self, who: &str) -> Result<String, String> {
        let password = match self {
            Self::Env { env } => std::env::var(env)
                .map_err(|_| format!("password of {who}: environment variable {env} is unset"))?,
            Self::File { file } => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    format!("password of {who}: cannot read {}: {e}", file.display())
                })?;
                text.lines().next().map(str::to_owned).unwrap_or_default()
            }
            Self::Value { value } => value.clone(),
        };
        if password.is_empty() {
            Err(format!("password of {who} is empty"))
        } else {
            Ok(password)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_an_inline_password() {
        let s = PasswordSource::Value {
            value: "hunter2".into(),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn empty_and_unset_are_refused_naming_the_user() {
        let empty = PasswordSource::Value {
            value: String::new(),
        };
        assert_eq!(
            empty.resolve("alice").unwrap_err(),
            "password of alice is empty"
        );
        let unset = PasswordSource::Env {
            env: "IMM_SIM_TEST_SURELY_UNSET_VAR".into(),
        };
        assert!(unset.resolve("bob").unwrap_err().contains("bob"));
    }
}
