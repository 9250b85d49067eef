//! One trust store per process: the system's root certificates, read from
//! disk once and handed to both HTTP clients a function may have (the
//! DynamoDB client and the backend's), instead of each reading and parsing
//! them on its own. get-metadata, which has both, read them twice before.
//! Only when both speak TLS: a function with only the DynamoDB client (or
//! a plain-HTTP backend) leaves the reading to the SDK, which caches its
//! own once per process and parses them once (handing them over costs a
//! PEM round trip, measured at +0.5 ms of init); one with only a TLS
//! backend reads them here, once, instead of through the platform verifier.

use std::sync::OnceLock;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;
use base64::Engine as _;
use rustls_pki_types::CertificateDer;

/// The system's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set, as
/// OpenSSL reads them), read on first use; only those rustls accepts as
/// trust anchors (the SDK refuses, with a panic, a root it cannot parse).
pub fn roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(error = %error, "a root certificate could not be read");
        }
        let mut anchors = rustls::RootCertStore::empty();
        let usable: Vec<_> = found.certs.into_iter().filter(|cert| anchors.add(cert.clone()).is_ok()).collect();
        if usable.is_empty() {
            tracing::warn!("no root certificates found: TLS connections will fail");
        }
        usable
    })
}

/// The SDK's HTTPS client (rustls, aws-lc, as its default) trusting
/// exactly [`roots`]. The SDK takes extra roots only as PEM text, so the
/// certificates read once go to it as one PEM bundle.
pub fn sdk_http_client() -> SharedHttpClient {
    let mut bundle = String::new();
    for cert in roots() {
        bundle.push_str("-----BEGIN CERTIFICATE-----\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for line in encoded.as_bytes().chunks(64) {
            bundle.push_str(std::str::from_utf8(line).unwrap_or_default());
            bundle.push('\n');
        }
        bundle.push_str("-----END CERTIFICATE-----\n");
    }
    let mut store = TrustStore::empty().with_native_roots(false);
    if !bundle.is_empty() {
        store = store.with_pem_certificate(bundle.into_bytes());
    }
    let context = TlsContext::builder().with_trust_store(store).build().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the trust store was refused; the SDK reads the system's roots itself");
        TlsContext::default()
    });
    Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc)).tls_context(context).build_https()
}

/// [`roots`] for reqwest, which then verifies against them alone rather
/// than loading the platform's store a second time.
pub fn reqwest_roots() -> Vec<reqwest::Certificate> {
    roots().iter().filter_map(|cert| reqwest::Certificate::from_der(cert.as_ref()).ok()).collect()
}
