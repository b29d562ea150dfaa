//! Persistence: each emulated BMC's boot-options store as `STATE_DIR/<name>/state.json`.
//!
//! The file is the store's serde state, which holds the CHAP secrets written through the
//! OEM dialect: it is written mode 0600 in a 0700 directory, atomically (a temporary file
//! in the same directory, fsync, rename), so a crash leaves the old or the new state,
//! never a torn one. Loading bounds the file size and checks the shape of the arrays the
//! store indexes before handing the JSON to serde, so a damaged or hostile file is an
//! error naming the file, not a panic later.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use ipmi_iscsi::store::BootOptionsStore;

use super::spec::BmcName;

/// The state file's name inside a BMC's directory.
pub const STATE_FILE: &str = "state.json";
/// Largest state file read (a full store is about 20 KiB of JSON).
pub const MAX_STATE_BYTES: u64 = 1 << 20;

/// Why a BMC's state cannot be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Reading, writing or creating failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_STATE_BYTES`].
    #[error(
        "{path}: {len} bytes is larger than any saved state ({MAX_STATE_BYTES}); refusing to load it"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The file is not a saved store.
    #[error(
        "{path}: not a saved boot-options store: {reason} (move it away to start this bmc empty)"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the contents).
        reason: String,
    },
}

/// Creates `dir` (and parents) with mode 0700, and tightens it to 0700 if it exists.
///
/// # Errors
/// The I/O error, with the path in its message.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(named)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(named)
}

/// Writes `bytes` to `path` atomically with `mode`: a temporary file next to it, written,
/// fsynced, then renamed over `path`.
///
/// # Errors
/// The I/O error, with the path in its message; the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let file_name = path
        .file_name()
        .ok_or_else(|| named(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The mode applies only when the file is created; a leftover keeps its old one.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(named)
}

fn invalid(path: &Path, reason: impl Into<String>) -> PersistError {
    PersistError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Decodes a saved store, checking the array shapes the store relies on.
///
/// # Errors
/// [`PersistError::Invalid`] naming the field that is wrong (`path` names the file).
pub fn decode_state(path: &Path, text: &str) -> Result<BootOptionsStore, PersistError> {
    // The store's own deserializer checks its shapes.
    serde_json::from_str(text).map_err(|e| invalid(path, e.to_string()))
}

/// The directory holding every BMC's state.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// State under `root` (created, 0700, on first save).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `root/<name>`.
    #[must_use]
    pub fn dir(&self, name: &BmcName) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// `root/<name>/state.json`.
    #[must_use]
    pub fn file(&self, name: &BmcName) -> PathBuf {
        self.dir(name).join(STATE_FILE)
    }

    /// Loads a BMC's saved store; `None` when it has none yet.
    ///
    /// # Errors
    /// [`PersistError`] for an unreadable, oversized or invalid file.
    pub fn load(&self, name: &BmcName) -> Result<Option<BootOptionsStore>, PersistError> {
        let path = self.file(name);
        let io_err = |source| PersistError::Io {
            path: path.clone(),
            source,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if meta.len() > MAX_STATE_BYTES {
            return Err(PersistError::TooLarge {
                path,
                len: meta.len(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io_err)?;
        decode_state(&path, &text).map(Some)
    }

    /// Saves a BMC's serialized store (`json` from `serde_json::to_vec(&store)`).
    ///
    /// # Errors
    /// [`PersistError::Io`] naming the file.
    pub fn save(&self, name: &BmcName, json: &[u8]) -> Result<(), PersistError> {
        let dir = self.dir(name);
        ensure_private_dir(&dir).map_err(|source| PersistError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(STATE_FILE);
        write_atomic(&path, json, 0o600).map_err(|source| PersistError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipmi_iscsi::bootopt::{BootParam, set_request};
    use ipmi_iscsi::store::StoreConfig;
    use std::time::Duration;

    fn name() -> BmcName {
        BmcName::of("127.0.0.1:9001".parse().unwrap())
    }

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("state"));
        assert!(dir.load(&name()).unwrap().is_none());
        let mut store = BootOptionsStore::new(StoreConfig::default());
        store.handle(
            Duration::from_secs(5),
            &set_request(BootParam::BOOT_FLAGS, &[0x80, 0x04, 0, 0, 0]),
        );
        dir.save(&name(), &serde_json::to_vec(&store).unwrap())
            .unwrap();
        assert_eq!(dir.load(&name()).unwrap(), Some(store));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.file(&name())), 0o600);
        assert_eq!(mode(&dir.dir(&name())), 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(dir.dir(&name()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(STATE_FILE)]);
    }

    #[test]
    fn damaged_files_are_errors_naming_the_field_not_panics() {
        let good = serde_json::to_value(BootOptionsStore::new(StoreConfig::default())).unwrap();
        let p = Path::new("s.json");
        let mut short_oem = good.clone();
        short_oem["oem"].as_array_mut().unwrap().pop();
        let mut short_row = good.clone();
        short_row["oem"][3].as_array_mut().unwrap().truncate(15);
        let mut no_mailbox = good.clone();
        no_mailbox["mailbox"] = serde_json::Value::Array(Vec::new());
        let mut blocks_mismatch = good.clone();
        blocks_mismatch["config"]["mailbox_blocks"] = serde_json::Value::from(3);
        for (v, field) in [
            (short_oem, "oem"),
            (short_row, "oem[3]"),
            (no_mailbox, "mailbox"),
            (blocks_mismatch, "mailbox_blocks"),
        ] {
            let e = decode_state(p, &v.to_string()).unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
        assert!(decode_state(p, "{").is_err());
        assert!(decode_state(p, &good.to_string()).is_ok());
    }

    #[test]
    fn invalid_bits_of_oem_parameters_survive_save_and_load() {
        // Found by fuzzing (imm_store_render): bit 96+ of the u128 did not fit a JSON Value.
        let mut store = BootOptionsStore::new(StoreConfig::default());
        let mut data = vec![0x80 | BootParam::OEM_INITIATOR_NAME.0, 0];
        data.extend_from_slice(&[0; 16]);
        let r = store.handle(
            Duration::ZERO,
            &ipmi_iscsi::ipmi::Request::new(
                ipmi_iscsi::ipmi::NetFn::CHASSIS,
                ipmi_iscsi::ipmi::chassis::SET_SYSTEM_BOOT_OPTIONS,
                data,
            ),
        );
        assert!(r.is_ok());
        let json = serde_json::to_string(&store).unwrap();
        assert_eq!(decode_state(Path::new("s.json"), &json).unwrap(), store);
    }

    #[test]
    fn oversized_state_is_refused_before_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        std::fs::create_dir_all(dir.dir(&name())).unwrap();
        let f = std::fs::File::create(dir.file(&name())).unwrap();
        f.set_len(MAX_STATE_BYTES + 1).unwrap();
        assert!(matches!(
            dir.load(&name()),
            Err(PersistError::TooLarge { .. })
        ));
    }
}
