//! How the control API is served: over `cutover_listen`'s bounded accept
//! loop, and with TLS when `cutover serve --tls-cert FILE --tls-key FILE`
//! (PEM; rustls). Handshakes run in the connections' own tasks, so a slow
//! or silent client never holds up the others; a failed handshake is
//! logged and dropped.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
/// included (they end when the daemon stops), for up to
/// [`cutover_listen::DRAIN`]. Connections keep the bounds every server here
/// keeps (`cutover_listen`: a connection limit, a header read timeout, a
/// backoff on accept errors, unreadable requests refused as problem
/// documents); a TLS handshake has [`HANDSHAKE`]. HTTP/1.1 only: the TLS
/// configuration offers no ALPN.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: axum::Router,
    stopped: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let listener = cutover_listen::Listener::new(listener, cutover_listen::Limits::default()).refusing(refusal);
    let make = |_peer| hyper_util::service::TowerToHyperService::new(app.clone());
    let Some(acceptor) = tls.map(TlsAcceptor::from) else {
        listener.serve(make, stopped).await;
        return Ok(());
    };
    let handshake = move |stream, peer: std::net::SocketAddr| {
        let acceptor = acceptor.clone();
        async move {
            match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => Some(tls),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        }
    };
    listener.serve_with(handshake, make, stopped).await;
    Ok(())
}

/// A request hyper could not read, refused as every refusal of the control
/// API is: a problem document.
fn refusal(refusal: &cutover_listen::Refusal) -> http::Response<bytes::Bytes> {
    let problem = crate::api::Problem::new(refusal.status, refusal.message.clone());
    let mut response = http::Response::new(serde_json::to_vec(&problem).unwrap_or_default().into());
    *response.status_mut() = refusal.status;
    let problem_json = http::HeaderValue::from_static("application/problem+json");
    response.headers_mut().insert(http::header::CONTENT_TYPE, problem_json);
    response
}
