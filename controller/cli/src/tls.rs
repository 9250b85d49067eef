//! How the control API is served: over `cutover_listen`'s bounded accept
//! loop, and with TLS when `cutover serve --tls-cert FILE --tls-key FILE`
//! (PEM; rustls). Handshakes run in the connections' own tasks, so a slow
//! or silent client never holds up the others; a failed handshake is
//! logged and dropped.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::failure::Failure;

/// How long a client may take over its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The server's certificate chain and key, read and checked at start.
pub fn config(cert: &Path, key: &Path) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, Failure> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| Failure::input(format!("--tls-cert {}: not a PEM certificate chain: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(Failure::input(format!("--tls-cert {}: no certificate in it", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Failure::input(format!("--tls-key {}: not a PEM private key: {e}", key.display())))?;
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Failure::input(format!("--tls-cert and --tls-key do not go together: {e}")))?;
    Ok(Arc::new(config))
}

/// Serves `app` (the control API) on `listener`, over TLS when `tls` is
/// given, until `stopped`; then lets the connections finish, SSE streams
/// included (they end when the daemon stops). Connections keep the bounds
/// every server here keeps (`cutover_listen`: a connection limit, a header
/// read timeout, a backoff on accept errors); a TLS handshake has
/// [`HANDSHAKE`]. HTTP/1.1 only: the TLS configuration offers no ALPN.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: axum::Router,
    stopped: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let listener = cutover_listen::Listener::new(listener, cutover_listen::Limits::default());
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stopped = std::pin::pin!(stopped);
    loop {
        let connection = tokio::select! {
            connection = listener.accept() => connection,
            () = &mut stopped => break,
        };
        let (stream, peer, slot) = (connection.stream, connection.peer, connection.slot);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let builder = listener.http1();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let served = match acceptor {
                None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => watcher.watch(builder.serve_connection(TokioIo::new(tls), service)).await,
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
    Ok(())
}
