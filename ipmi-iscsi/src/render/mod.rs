//! "Flashing": what firmware consumes, rendered from [`crate::params::IscsiBootParams`] —
//! an iPXE script, the RFC 4173 root path and an iBFT (with a decoder, to compare with the
//! table iPXE publishes). Secrets appear only in the iPXE script and the iBFT, which
//! need them.

pub mod ibft;
mod ipxe;
mod root_path;

pub use ibft::{Ibft, IbftError, IbftNic, IbftOptions, IbftTarget, decode_ibft, ibft_table};
pub use ipxe::{IpxeOptions, ipxe_script};
pub use root_path::{RootPath, parse_root_path, root_path};

use crate::params::ParamsError;

/// Why an artefact cannot be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The parameters fail validation.
    #[error("invalid boot parameters: {0}")]
    Invalid(#[from] ParamsError),
    /// A value the artefact's syntax cannot carry.
    #[error(
        "{field} contains characters the {artefact} cannot carry (white space, $, quotes, backslash)"
    )]
    Unrepresentable {
        /// Field.
        field: &'static str,
        /// Artefact.
        artefact: &'static str,
    },
    /// The table outgrows 16-bit offsets.
    #[error("ibft exceeds 65535 bytes")]
    TooLarge,
    /// A root path that does not parse.
    #[error("root path: {reason}")]
    RootPath {
        /// The rule broken.
        reason: &'static str,
    },
}
