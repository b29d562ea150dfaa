//! "Flashing": what the emulated BMC hands to firmware once iSCSI boot parameters are
//! committed, rendered from its boot-options store and written per server.
//!
//! ```text
//! RENDER_DIR/<bmc name>/boot.ipxe    iPXE script (initiator-iqn, CHAP, sanboot)   0600
//!                       root-path    RFC 4173 root path of the primary target     0644
//!                       ibft.bin     iBFT (ACPI table iPXE would publish)          0600
//!                       params.json  public parameters, no secrets                 0644
//! ```
//! Source of the parameters: the OEM dialect when its control record says "enabled"
//! (the only dialect that carries CHAP secrets), otherwise the mailbox (parameter 7) under
//! the configured enterprise number. Nothing configured, or parameters that cannot be
//! rendered, means the four files are removed: firmware must not boot stale settings.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use ipmi_iscsi::bootopt::{DecodeError, Pen};
use ipmi_iscsi::params::{AuthSummary, Authentication, IscsiBootParams, PublicBootParams};
use ipmi_iscsi::render::{IbftOptions, IpxeOptions, ibft_table, ipxe_script, root_path};
use ipmi_iscsi::store::BootOptionsStore;
use serde::Serialize;

use super::persist::{ensure_private_dir, write_atomic};
use super::spec::BmcName;

/// The iPXE script's file name.
pub const BOOT_IPXE: &str = "boot.ipxe";
/// The RFC 4173 root path's file name.
pub const ROOT_PATH: &str = "root-path";
/// The iBFT's file name.
pub const IBFT_BIN: &str = "ibft.bin";
/// The public parameters' file name.
pub const PARAMS_JSON: &str = "params.json";
/// Every file a render writes.
pub const FILES: [&str; 4] = [BOOT_IPXE, ROOT_PATH, IBFT_BIN, PARAMS_JSON];

/// Which boot-option dialect the parameters came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamsSource {
    /// OEM parameters 96–127 (with secrets).
    Oem,
    /// Parameter 7 under the configured enterprise number (no secrets).
    Mailbox,
}

/// The rendered files of one BMC. `Debug` hides the script and the table (they carry the
/// CHAP secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Artefacts {
    /// Where the parameters came from.
    pub source: ParamsSource,
    /// The parameters without secrets.
    pub public: PublicBootParams,
    /// `boot.ipxe` (secret-bearing).
    pub boot_ipxe: String,
    /// `root-path`.
    pub root_path: String,
    /// `ibft.bin` (secret-bearing).
    pub ibft: Vec<u8>,
    /// `params.json`.
    pub params_json: String,
}

impl fmt::Debug for Artefacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Artefacts")
            .field("source", &self.source)
            .field("public", &self.public)
            .field(
                "boot_ipxe",
                &format_args!("<{} bytes, secret>", self.boot_ipxe.len()),
            )
            .field("root_path", &self.root_path)
            .field("ibft", &format_args!("<{} bytes, secret>", self.ibft.len()))
            .finish_non_exhaustive()
    }
}

/// What a BMC's store asks firmware to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flash {
    /// No iSCSI boot parameters are configured.
    Nothing,
    /// Parameters are stored but cannot be rendered (the reason names no secret).
    Unrenderable {
        /// Dialect they came from.
        source: ParamsSource,
        /// Why.
        reason: String,
    },
    /// The files to write.
    Render(Box<Artefacts>),
}

impl Flash {
    /// The artefacts, when there are any.
    #[must_use]
    pub fn artefacts(&self) -> Option<&Artefacts> {
        match self {
            Self::Render(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ParamsFile<'a> {
    bmc: &'a str,
    source: ParamsSource,
    root_path: &'a str,
    params: &'a PublicBootParams,
}

fn render(
    name: &BmcName,
    source: ParamsSource,
    params: &IscsiBootParams,
) -> Result<Artefacts, String> {
    let boot_ipxe = ipxe_script(params, &IpxeOptions::default()).map_err(|e| e.to_string())?;
    let ibft = ibft_table(params, &IbftOptions::default()).map_err(|e| e.to_string())?;
    let root_path = root_path(&params.primary);
    let public = params.without_secrets();
    let mut params_json = serde_json::to_string_pretty(&ParamsFile {
        bmc: name.as_str(),
        source,
        root_path: &root_path,
        params: &public,
    })
    .map_err(|e| format!("params.json: {e}"))?;
    params_json.push('\n');
    Ok(Artefacts {
        source,
        public,
        boot_ipxe,
        root_path: format!("{root_path}\n"),
        ibft,
        params_json,
    })
}

fn from_mailbox(public: PublicBootParams) -> Result<IscsiBootParams, String> {
    match public.auth {
        AuthSummary::None => public
            .with_auth(Authentication::None)
            .ok_or_else(|| "mailbox parameters are inconsistent".to_owned()),
        AuthSummary::Chap { .. } | AuthSummary::MutualChap { .. } => Err(
            "the mailbox names a chap user but carries no secret; push chap with the oem dialect"
                .to_owned(),
        ),
    }
}

/// Decides what `store` makes firmware boot, and renders it.
#[must_use]
pub fn flash(name: &BmcName, store: &BootOptionsStore, pen: Pen) -> Flash {
    if store.oem_enabled() {
        let source = ParamsSource::Oem;
        return match store.oem_params() {
            Ok(p) => match render(name, source, &p) {
                Ok(a) => Flash::Render(Box::new(a)),
                Err(reason) => Flash::Unrenderable { source, reason },
            },
            Err(e) => Flash::Unrenderable {
                source,
                reason: e.to_string(),
            },
        };
    }
    let source = ParamsSource::Mailbox;
    match store.mailbox_params(pen) {
        Ok(public) => match from_mailbox(public).and_then(|p| render(name, source, &p)) {
            Ok(a) => Flash::Render(Box::new(a)),
            Err(reason) => Flash::Unrenderable { source, reason },
        },
        // Empty, or another vendor's mailbox format: not our parameters.
        Err(DecodeError::Enterprise { .. }) => Flash::Nothing,
        Err(e) => Flash::Unrenderable {
            source,
            reason: e.to_string(),
        },
    }
}

/// The directory holding every BMC's rendered files.
#[derive(Clone, Debug)]
pub struct RenderDir {
    root: PathBuf,
}

impl RenderDir {
    /// Renders under `root` (created on first write).
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `root/<name>`.
    #[must_use]
    pub fn dir(&self, name: &BmcName) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// Writes the four files atomically (each via temp + rename), secrets 0600.
    ///
    /// # Errors
    /// The first I/O error, with the path in its message.
    pub fn write(&self, name: &BmcName, a: &Artefacts) -> io::Result<()> {
        let dir = self.dir(name);
        ensure_private_dir(&dir)?;
        write_atomic(&dir.join(BOOT_IPXE), a.boot_ipxe.as_bytes(), 0o600)?;
        write_atomic(&dir.join(IBFT_BIN), &a.ibft, 0o600)?;
        write_atomic(&dir.join(ROOT_PATH), a.root_path.as_bytes(), 0o644)?;
        write_atomic(&dir.join(PARAMS_JSON), a.params_json.as_bytes(), 0o644)
    }

    /// Removes the four files (absent ones are fine).
    ///
    /// # Errors
    /// The first I/O error other than "not found".
    pub fn remove(&self, name: &BmcName) -> io::Result<()> {
        let dir = self.dir(name);
        for f in FILES {
            remove_if_present(&dir.join(f))?;
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
            e.kind(),
            format!("cannot remove {}: {e}", path.display()),
        )),
        _ => Ok(()),
    }
}
