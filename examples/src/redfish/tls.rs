//! Trusting a BMC's certificate: a CA file, a pinned SHA-256 fingerprint (given, or learnt on
//! first use and kept in the store), or — only when the operator opts in per BMC — nothing.
//!
//! BMCs ship self-signed certificates, so the usual web PKI does not apply; but verification
//! never goes off silently. A pin is checked on the end-entity certificate *and* the handshake
//! signature is verified against that certificate's key (so the peer holds the key, not just a
//! copy of the certificate).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of a DER certificate. Shown and parsed as `sha256:` and 64 hex
/// digits (colons between bytes are accepted when parsing).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der`.
    #[must_use]
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: String = s
            .trim()
            .strip_prefix("sha256:")
            .unwrap_or(s.trim())
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out)
            .map_err(|_| format!("{s:?} is not a sha256 fingerprint (64 hex digits)"))?;
        Ok(Self(out))
    }
}

/// How one BMC's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Chain to a CA in this PEM file (the name checked is the BMC's address).
    CaFile(PathBuf),
    /// The end-entity certificate must have this fingerprint.
    Pinned(Fingerprint),
    /// Nothing pinned yet: accept the certificate presented and report its fingerprint, for
    /// the caller to record (trust on first use).
    FirstUse,
    /// No check at all (explicit per-BMC opt-in; logged as a warning at each connection).
    Insecure,
}

/// The TLS set-up for one BMC, with the fingerprint of the certificate the BMC presented.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    /// For the HTTP client.
    pub config: rustls::ClientConfig,
    /// Filled at the handshake.
    pub presented: Presented,
}

/// The fingerprint of the certificate a BMC presented at the last handshake.
#[derive(Clone, Debug, Default)]
pub struct Presented(Arc<Mutex<Option<Fingerprint>>>);

impl Presented {
    /// The fingerprint, when a handshake got that far.
    #[must_use]
    pub fn get(&self) -> Option<Fingerprint> {
        self.0.lock().map_or_else(|p| *p.into_inner(), |g| *g)
    }

    fn set(&self, fp: Fingerprint) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(fp);
        }
    }
}

/// Errors building the TLS set-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read or holds no certificate.
    #[error("ca file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Config(String),
}

fn provider() -> Arc<CryptoProvider> {
    // The workspace's choice (ring, no C toolchain); its post-quantum note does not apply
    // to BMCs, none of which offer the hybrid groups yet.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `trust` (ring provider, TLS 1.2 and 1.3).
///
/// # Errors
/// [`TlsError`] for an unreadable CA file or a configuration rustls refuses.
pub fn setup(trust: &Trust) -> Result<TlsSetup, TlsError> {
    let provider = provider();
    let presented = Presented::default();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::CaFile(path) => {
            let shown = path.display().to_string();
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| TlsError::CaFile {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| TlsError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| TlsError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::CaFile {
                    path: shown,
                    reason: "no certificate in it".to_owned(),
                });
            }
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            Arc::new(Recording {
                inner: Check::WebPki(inner),
                presented: presented.clone(),
            })
        }
        Trust::Pinned(fp) => Arc::new(Recording {
            inner: Check::Pin(*fp, provider),
            presented: presented.clone(),
        }),
        Trust::FirstUse | Trust::Insecure => Arc::new(Recording {
            inner: Check::Any(provider),
            presented: presented.clone(),
        }),
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup { config, presented })
}

#[derive(Debug)]
enum Check {
    WebPki(Arc<WebPkiServerVerifier>),
    Pin(Fingerprint, Arc<CryptoProvider>),
    /// Any certificate (first use, or the insecure opt-in); handshake signatures are still
    /// checked against the presented key.
    Any(Arc<CryptoProvider>),
}

#[derive(Debug)]
struct Recording {
    inner: Check,
    presented: Presented,
}

impl Recording {
    fn algorithms(&self) -> Option<&rustls::crypto::WebPkiSupportedAlgorithms> {
        match &self.inner {
            Check::WebPki(_) => None,
            Check::Pin(_, p) | Check::Any(p) => Some(&p.signature_verification_algorithms),
        }
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of(end_entity);
        self.presented.set(fp);
        match &self.inner {
            Check::WebPki(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Check::Pin(want, _) if *want == fp => Ok(ServerCertVerified::assertion()),
            Check::Pin(want, _) => Err(rustls::Error::General(format!(
                "certificate {fp} is not the pinned {want}"
            ))),
            Check::Any(_) => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match (&self.inner, self.algorithms()) {
            (Check::WebPki(v), _) => v.verify_tls12_signature(message, cert, dss),
            (_, Some(algs)) => rustls::crypto::verify_tls12_signature(message, cert, dss, algs),
            (_, None) => Err(rustls::Error::General("no signature algorithms".into())),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match (&self.inner, self.algorithms()) {
            (Check::WebPki(v), _) => v.verify_tls13_signature(message, cert, dss),
            (_, Some(algs)) => rustls::crypto::verify_tls13_signature(message, cert, dss, algs),
            (_, None) => Err(rustls::Error::General("no signature algorithms".into())),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        match (&self.inner, self.algorithms()) {
            (Check::WebPki(v), _) => v.supported_verify_schemes(),
            (_, Some(algs)) => algs.supported_schemes(),
            (_, None) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_parses_with_or_without_prefix_and_colons() {
        let fp = Fingerprint::of(b"certificate");
        let shown = fp.to_string();
        assert!(
            shown.starts_with("sha256:") && shown.len() == 7 + 64,
            "{shown}"
        );
        assert_eq!(shown.parse::<Fingerprint>().unwrap(), fp);
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(colons.join(":").parse::<Fingerprint>().unwrap(), fp);
        assert!("sha256:abcd".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "nothing here\n").unwrap();
        let err = setup(&Trust::CaFile(path)).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
