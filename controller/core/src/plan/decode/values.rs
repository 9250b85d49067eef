//! Reading one value: its type, its range, what to say when it is wrong.

use std::ops::Range;
use std::time::Duration;

use toml::de::DeValue;

use super::{Decoder, Tbl, Val};
use crate::plan::*;
use crate::units::{format_duration, parse_duration};

impl Decoder<'_> {
    pub(super) fn string(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<String>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::String(s) => Some(Some(s.to_string())),
            other => {
                let msg = format!("expected a string, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    /// A required, non-empty string whose shape `check` accepts.
    pub(super) fn req_string(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        fix: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        match self.string(t, key)? {
            None => {
                self.missing(t, key, fix);
                None
            }
            Some(s) => {
                let span = t.get(key).map(|v| v.span()).unwrap_or_default();
                let shape = if s.trim().is_empty() { Err("must not be empty".into()) } else { check(&s) };
                match shape {
                    Ok(()) => Some(s),
                    Err(msg) => {
                        self.problem(t.key_path(key), &span, true, msg);
                        None
                    }
                }
            }
        }
    }

    pub(super) fn number(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<(f64, Range<usize>)>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|x| x.is_finite()),
            _ => None,
        };
        match n {
            Some(n) => Some(Some((n, v.span()))),
            None => {
                let msg = format!("expected a finite number, found {}", v.get_ref().type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    /// An optional number in `range` (inclusive).
    pub(super) fn num_in(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        lo: f64,
        hi: f64,
        what: &str,
    ) -> Option<Option<f64>> {
        match self.number(t, key)? {
            None => Some(None),
            Some((n, _)) if (lo..=hi).contains(&n) => Some(Some(n)),
            Some((_, span)) => {
                self.problem(t.key_path(key), &span, true, format!("{what} is between {lo} and {hi}"));
                None
            }
        }
    }

    pub(super) fn int_in(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        lo: u64,
        hi: u64,
        what: &str,
    ) -> Option<Option<u64>> {
        let Some((n, span)) = self.number(t, key)? else {
            return Some(None);
        };
        let is_int = matches!(t.get(key).map(|v| v.get_ref()), Some(DeValue::Integer(_)));
        if is_int && n >= lo as f64 && n <= hi as f64 {
            Some(Some(n as u64))
        } else {
            self.problem(t.key_path(key), &span, true, format!("{what} is a whole number from {lo} to {hi}"));
            None
        }
    }

    pub(super) fn boolean(&mut self, t: &mut Tbl, key: &'static str) -> Option<Option<bool>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Some(*b)),
            other => {
                let msg = format!("expected true or false, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    pub(super) fn duration(&mut self, t: &mut Tbl, key: &'static str, what: &str) -> Option<Option<Duration>> {
        self.duration_up_to(t, key, what, false, HOLD_MAX)
    }

    /// A duration, zero allowed or not, of at most `max`.
    pub(super) fn duration_up_to(
        &mut self,
        t: &mut Tbl,
        key: &'static str,
        what: &str,
        zero: bool,
        max: Duration,
    ) -> Option<Option<Duration>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        let parsed = match v.get_ref() {
            DeValue::String(s) => parse_duration(s),
            other => Err(format!("expected a duration string like \"2h\", found {}", other.type_str())),
        };
        let checked = parsed.and_then(|d| {
            if d.is_zero() && !zero {
                Err(format!("{what} must be longer than zero"))
            } else if d > max {
                Err(format!("{what} is at most {}", format_duration(max)))
            } else {
                Ok(d)
            }
        });
        match checked {
            Ok(d) => Some(Some(d)),
            Err(msg) => {
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    pub(super) fn array<'t, 'i>(&mut self, t: &mut Tbl<'t, 'i>, key: &'static str) -> Option<Option<&'t [Val<'i>]>> {
        let Some(v) = t.get(key) else {
            return Some(None);
        };
        match v.get_ref() {
            DeValue::Array(a) => Some(Some(&a[..])),
            other => {
                let msg = format!("expected an array, found {}", other.type_str());
                self.problem(t.key_path(key), &v.span(), true, msg);
                None
            }
        }
    }

    /// A list of non-empty strings; empty when the key is absent.
    pub(super) fn names(&mut self, t: &mut Tbl, key: &'static str, what: &str) -> Option<Vec<String>> {
        let items = self.array(t, key)?.unwrap_or_default();
        let path = t.key_path(key);
        let mut names = Some(Vec::new());
        for (i, v) in items.iter().enumerate() {
            match (v.get_ref(), names.as_mut()) {
                (DeValue::String(s), Some(names)) if !s.is_empty() => names.push(s.to_string()),
                (DeValue::String(s), None) if !s.is_empty() => {}
                _ => {
                    self.problem(format!("{path}[{i}]"), &v.span(), true, what);
                    names = None;
                }
            }
        }
        names
    }
}

pub(super) fn check_name(s: &str) -> Result<(), String> {
    if s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err("a name is at most 64 letters, digits, - or _".into())
    }
}

/// A shape check: the value starts with `prefix`, or `message` says what is wrong.
pub(super) fn starts_with(prefix: &'static str, message: &'static str) -> impl Fn(&str) -> Result<(), String> {
    move |s| if s.starts_with(prefix) { Ok(()) } else { Err(message.into()) }
}

pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `scheme://host[:port][/path]` with a non-empty host.
pub(super) fn url_host(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some((scheme, host))
}

pub(super) fn check_url(s: &str) -> Result<(), String> {
    match url_host(s) {
        Some(("http" | "https", _)) => Ok(()),
        _ => Err("expected an http:// or https:// URL with a host".into()),
    }
}

pub(super) fn check_webhook(s: &str) -> Result<(), String> {
    match url_host(s) {
        Some(("https", _)) => Ok(()),
        Some(("http", "127.0.0.1" | "localhost" | "[::1]")) => Ok(()),
        Some(("http", _)) => Err("a webhook leaves this machine: use https://".into()),
        _ => Err("expected an https:// URL with a host".into()),
    }
}
