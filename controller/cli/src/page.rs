//! The web dashboard: one HTML document with its style and script inline
//! (no build step, nothing loaded from anywhere else), served at `/` by
//! `cutover serve`; and the same document with one cutover's data inside
//! it, written by `cutover report`. One renderer for both, so a report shows
//! exactly what the live page showed.
//!
//! The live page reads the control API with the viewer's token (given once
//! in the address, `#/cutovers/ID?token=…`, then kept in the tab's session
//! storage and taken out of the address) and follows the cutover's SSE
//! stream. Its Content-Security-Policy allows only its own script and style
//! (by hash) and requests to this daemon.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("../assets/dashboard.html");
const STYLE: &str = include_str!("../assets/dashboard.css");
const SCRIPT: &str = include_str!("../assets/dashboard.js");

struct Page {
    html: String,
    csp: String,
}

fn source_hash(source: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(source.as_bytes())))
}

/// The document, with `data` (JSON) in its report slot: `null` for the live page.
fn render(data: &str) -> String {
    TEMPLATE.replace("{{style}}", STYLE).replace("{{script}}", SCRIPT).replace("{{data}}", data)
}

static LIVE: LazyLock<Page> = LazyLock::new(|| Page {
    html: render("null"),
    csp: format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        source_hash(SCRIPT),
        source_hash(STYLE)
    ),
});

/// `GET /`: the dashboard.
pub async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, LIVE.csp.as_str()),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        LIVE.html.as_str(),
    )
}

/// A self-contained report: the page with `data` inside, drawn without a
/// server (no request leaves it).
pub fn report<T: Serialize>(data: &T) -> Result<String, serde_json::Error> {
    // Inside <script>, "</script>" or "<!--" in a string would end or
    // confuse the element: JSON may spell every "<" as \u003c.
    let json = serde_json::to_string(data)?.replace('<', "\\u003c");
    Ok(render(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_script_and_style_and_the_policy_names_them() {
        let page = &*LIVE;
        assert!(page.html.contains(SCRIPT) && page.html.contains(STYLE));
        assert!(!page.html.contains("{{"), "a placeholder was left in the page");
        // The hashes are of exactly what sits between the tags.
        let script = page.html.split("<script>").nth(1).and_then(|s| s.split("</script>").next()).unwrap();
        assert!(page.csp.contains(&source_hash(script)));
        let html = page.html.replace("http://www.w3.org/2000/svg", "");
        assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing");
    }

    #[test]
    fn a_report_cannot_end_its_own_data_element() {
        let html = report(&serde_json::json!({"reason": "</script><script>alert(1)</script>"})).unwrap();
        assert_eq!(html.matches("</script>").count(), render("null").matches("</script>").count());
        assert!(html.contains("\\u003c/script>"));
    }
}
