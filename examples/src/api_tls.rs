//! HTTPS for the API of `bcm serve`: `[api] tls_cert` and `tls_key` (PEM files), served
//! with rustls (ring provider, TLS 1.2 and 1.3).
//!
//! Handshakes run in their own tasks, bounded in time, so a client that connects and stays
//! silent holds up no one; [`TlsListener`] hands finished connections to `axum::serve`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for `axum::serve` to take them.
const QUEUE: usize = 64;

/// Why the API's TLS settings cannot be used; the message names the file and the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("[api] {setting} {path}: {reason}")]
    File {
        /// `tls_cert` or `tls_key`.
        setting: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificate and key together.
    #[error("[api] tls_cert and tls_key do not make a usable server identity: {0}")]
    Config(String),
}

/// The crypto provider of the API's TLS, server and CLI side.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // ring, the workspace's choice (aws-lc-rs needs a C/cmake build step). rustls marks it
    // deprecated for lacking post-quantum key exchange: the API gets classical ECDHE
    // (X25519, P-256) until the workspace moves to a provider with the hybrid groups.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration from a PEM certificate chain and its private key.
///
/// # Errors
/// [`TlsError`] when a file is unreadable, empty, or the key does not fit the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let file_err = |setting, path: &Path, reason: String| TlsError::File {
        setting,
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err("tls_cert", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err("tls_cert", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err(
            "tls_cert",
            cert,
            "no PEM CERTIFICATE in it".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err("tls_key", key, format!("no usable PEM private key: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP listener whose connections are TLS, for `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking each connection with `config` in its own task.
    ///
    /// # Errors
    /// When the listener has no local address.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(QUEUE);
        let acceptor = TlsAcceptor::from(config);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "API listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "API listener: TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "API listener: TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self {
            local,
            ready,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Some(c) = self.ready.recv().await {
                return c;
            }
            // The accepting task ended (it never does while the listener lives): serve
            // nothing more rather than spin.
            std::future::pending::<()>().await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A self-signed certificate for 127.0.0.1 as PEM files in `dir`: (cert, key).
    fn cert_files(
        dir: &Path,
    ) -> (
        std::path::PathBuf,
        std::path::PathBuf,
        CertificateDer<'static>,
    ) {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = dir.join("c.pem");
        let key = dir.join("k.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key, ck.cert.der().clone())
    }

    #[test]
    fn files_that_hold_no_certificate_or_key_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = cert_files(dir.path());
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = server_config(&empty, &key).unwrap_err().to_string();
        assert!(
            err.contains("tls_cert") && err.contains("empty.pem"),
            "{err}"
        );
        let err = server_config(&cert, &empty).unwrap_err().to_string();
        assert!(
            err.contains("tls_key") && err.contains("empty.pem"),
            "{err}"
        );
        let err = server_config(&dir.path().join("absent"), &key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls_cert") && err.contains("absent"), "{err}");
        assert!(server_config(&cert, &key).is_ok());
    }

    #[tokio::test]
    async fn a_silent_client_does_not_hold_up_the_next_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, der) = cert_files(dir.path());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut listener = TlsListener::new(tcp, server_config(&cert, &key).unwrap()).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        // Connects and never sends a ClientHello.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            tls.write_all(b"ping").await.unwrap();
            tls.flush().await.unwrap();
            let mut back = [0u8; 4];
            tls.read_exact(&mut back).await.unwrap();
            back
        });
        let accepted = tokio::time::timeout(
            Duration::from_secs(5),
            axum::serve::Listener::accept(&mut listener),
        )
        .await
        .expect("the second client's handshake finished while the first stays silent");
        let (mut tls, _) = accepted;
        let mut got = [0u8; 4];
        tls.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        tls.write_all(b"pong").await.unwrap();
        tls.flush().await.unwrap();
        assert_eq!(&client.await.unwrap(), b"pong");
    }
}
