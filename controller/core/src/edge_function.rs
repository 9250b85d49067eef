//! The CloudFront Function as it must run for a plan:
//! `infra/edge-function/function.js` with its template variables filled
//! from the plan, exactly as Terraform's `templatefile()` fills them (plain
//! substitution of `${name}`). Pre-flight compares it with the live code;
//! `cutover plan edge-function` prints it.

use crate::plan::{CloudFrontEdge, CohortKey, Target};

/// The function's source, template variables and all.
pub const SOURCE: &str = include_str!("../../../infra/edge-function/function.js");

/// Why a plan's function cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The value would end the JavaScript string it is put in.
    #[error(
        "{name} = {value:?} cannot go inside the function's quoted strings: use no quote, backslash or line break"
    )]
    Unquotable { name: &'static str, value: String },
    /// The source names a variable the plan does not give.
    #[error("function.js uses ${{{0}}}, which the plan does not give")]
    Unknown(String),
}

/// The function for `target`, whose edge is `edge`.
pub fn render(target: &Target, edge: &CloudFrontEdge) -> Result<String, RenderError> {
    let (header, cookie) = match &target.cohort {
        CohortKey::Header(h) => (h.as_str(), ""),
        CohortKey::Cookie(c) => ("", c.as_str()),
        CohortKey::ViewerIp => ("", ""),
    };
    let vars: [(&'static str, &str); 7] = [
        ("weight_key", &edge.weight_key),
        ("when_store_unreadable", edge.when_store_unreadable.as_str()),
        ("probe_token_key", &edge.probe_token_key),
        ("serverless_origin_id", &edge.serverless_origin_id),
        ("salt", &target.salt),
        ("cohort_header", header),
        ("cohort_cookie", cookie),
    ];
    for (name, value) in vars {
        if value.contains(['\'', '\\', '\n', '\r']) {
            return Err(RenderError::Unquotable { name, value: value.to_owned() });
        }
    }
    let mut out = String::with_capacity(SOURCE.len());
    let mut rest = SOURCE;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| RenderError::Unknown(after.chars().take(20).collect()))?;
        let name = &after[..end];
        let value = vars.iter().find(|(n, _)| *n == name).ok_or_else(|| RenderError::Unknown(name.to_owned()))?.1;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where `live` first differs from `expected`: its line number (from 1) and
/// both lines; `None` when they are the same but for trailing whitespace.
pub fn first_difference(live: &str, expected: &str) -> Option<(usize, String, String)> {
    if live.trim_end() == expected.trim_end() {
        return None;
    }
    let (mut a, mut b) = (live.lines(), expected.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (a.next(), b.next()) {
            // Line by line the same (CRLF, trailing spaces): no difference.
            (None, None) => return None,
            (Some(x), Some(y)) if x.trim_end() == y.trim_end() => {}
            (x, y) => return Some((n, x.unwrap_or("(end)").to_owned(), y.unwrap_or("(end)").to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EdgeTarget, Plan, DEFAULT_PLAN};

    fn aws_target() -> (Target, CloudFrontEdge) {
        let mut plan = Plan::default_plan();
        let edge = CloudFrontEdge {
            distribution_id: "E2QWRUHAPOMQZL".into(),
            kvs_arn: "arn:aws:cloudfront::123456789012:key-value-store/x".into(),
            weight_key: "internal-api/weight".into(),
            serverless_origin_id: "api-gateway".into(),
            probe_token_key: "internal-api/probe-token".into(),
            probes_per_minute: 20,
            when_store_unreadable: crate::measure::Side::Legacy,
        };
        plan.target.edge = EdgeTarget::CloudFront(edge.clone());
        (plan.target, edge)
    }

    #[test]
    fn every_variable_is_filled_from_the_plan() {
        assert!(DEFAULT_PLAN.contains("x-user-id"));
        let (target, edge) = aws_target();
        let code = render(&target, &edge).unwrap();
        assert!(!code.contains("${"), "nothing left to fill");
        for line in [
            "const WEIGHT_KEY = 'internal-api/weight';",
            "const PROBE_TOKEN_KEY = 'internal-api/probe-token';",
            "const SERVERLESS_ORIGIN_ID = 'api-gateway';",
            "const COHORT_HEADER = 'x-user-id';",
            "const COHORT_COOKIE = '';",
            "const WHEN_STORE_UNREADABLE = 'legacy';",
        ] {
            assert!(code.contains(line), "{line}");
        }
        assert!(code.contains(&format!("const SALT = '{}';", target.salt)));
    }

    #[test]
    fn a_value_that_would_break_the_javascript_is_refused() {
        let (mut target, edge) = aws_target();
        target.salt = "it's".into();
        assert_eq!(render(&target, &edge), Err(RenderError::Unquotable { name: "salt", value: "it's".into() }));
    }

    #[test]
    fn the_first_difference_is_named_by_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb"), None);
        assert_eq!(first_difference("a \r\nb", "a\nb"), None, "trailing space and CRLF within");
        assert_eq!(first_difference("a\nB\nc", "a\nb\nc"), Some((2, "B".into(), "b".into())));
        assert_eq!(first_difference("a", "a\nb"), Some((2, "(end)".into(), "b".into())));
    }
}
