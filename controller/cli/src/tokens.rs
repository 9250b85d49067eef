//! Who may do what through the control API: bearer tokens, each with a
//! name (the actor the audit trail records) and a role.
//!
//! Tokens come from a file (`--tokens FILE`) or the environment
//! (`CUTOVER_TOKENS`), one per line (or comma-separated in the variable):
//!
//! ```text
//! # name      role      secret (at least 16 characters)
//! ana         operator  0f4c2b6e9d8a7f1e3c5b
//! ci-deploy   admin     9e8d7c6b5a4f3e2d1c0b
//! grafana     viewer    a1b2c3d4e5f6a7b8c9d0
//! ```
//!
//! A viewer reads; an operator also sends commands (pause, rollback, ...);
//! an admin also creates cutovers. Presented secrets are compared with
//! every token's in constant time, and no secret is ever logged or shown
//! by `Debug`.

use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }
}

pub struct Token {
    pub name: String,
    pub role: Role,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// The shortest secret accepted.
pub const MIN_SECRET: usize = 16;

#[derive(Debug, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// Parses `NAME ROLE SECRET` entries separated by newlines (a file) or
    /// commas (the environment); `#` starts a comment. `origin` names where
    /// they came from in errors, which name the entry and never echo a secret.
    pub fn parse(text: &str, origin: &str) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        for (n, entry) in text.split(['\n', ',']).enumerate() {
            let entry = entry.split('#').next().unwrap_or_default().trim();
            if entry.is_empty() {
                continue;
            }
            let at = format!("{origin}, entry {}", n + 1);
            let fields: Vec<&str> = entry.split_whitespace().collect();
            let [name, role, secret] = fields[..] else {
                return Err(format!("{at}: expected `NAME ROLE SECRET` (role: viewer, operator or admin)"));
            };
            let role = Role::parse(role)
                .ok_or_else(|| format!("{at}: role `{role}` is not one of viewer, operator, admin"))?;
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
                return Err(format!("{at}: the name `{name}` may hold letters, digits and - _ . @ only"));
            }
            if secret.len() < MIN_SECRET {
                return Err(format!("{at}: the secret of `{name}` is shorter than {MIN_SECRET} characters"));
            }
            if tokens.iter().any(|t: &Token| t.name == name) {
                return Err(format!("{at}: a second token named `{name}`"));
            }
            if tokens.iter().any(|t: &Token| bool::from(t.secret.ct_eq(secret.as_bytes()))) {
                return Err(format!("{at}: `{name}` has the same secret as another token"));
            }
            tokens.push(Token { name: name.to_owned(), role, secret: secret.as_bytes().to_vec() });
        }
        Ok(Tokens(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The token whose secret was presented. Every token is compared, in
    /// constant time each, so timing tells nothing of which (if any) matched.
    pub fn find(&self, presented: &[u8]) -> Option<&Token> {
        let mut found = None;
        for token in &self.0 {
            if bool::from(token.secret.ct_eq(presented)) {
                found = Some(token);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_bad_ones_are_named_without_their_secret() {
        let tokens =
            Tokens::parse("# people\nana operator 0123456789abcdef\n\nci admin fedcba9876543210 # deploys", "f")
                .expect("parses");
        assert_eq!(tokens.len(), 2);
        let ana = tokens.find(b"0123456789abcdef").expect("ana's");
        assert_eq!((ana.name.as_str(), ana.role), ("ana", Role::Operator));
        assert!(tokens.find(b"0123456789abcdeF").is_none());
        assert!(tokens.find(b"").is_none());
        assert!(!format!("{ana:?}").contains("0123"), "Debug hides the secret");

        let env = Tokens::parse("a:x, b viewer 0123456789abcdef", "CUTOVER_TOKENS");
        assert_eq!(
            env.unwrap_err(),
            "CUTOVER_TOKENS, entry 1: expected `NAME ROLE SECRET` (role: viewer, operator or admin)"
        );
        let short = Tokens::parse("ana admin short-secret", "f").unwrap_err();
        assert_eq!(short, "f, entry 1: the secret of `ana` is shorter than 16 characters");
        assert!(!short.contains("short-secret"));
        let role = Tokens::parse("ana root 0123456789abcdef", "f").unwrap_err();
        assert!(role.contains("role `root` is not one of viewer, operator, admin"), "{role}");
        let twice = Tokens::parse("a viewer 0123456789abcdef\nb admin 0123456789abcdef", "f").unwrap_err();
        assert!(twice.contains("same secret"), "{twice}");
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }
}
