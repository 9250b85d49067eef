//! Random bytes from the operating system: for what must differ between
//! processes (lease holder names, probe tokens, secrets, seeds). Statistics
//! take a seeded [`crate::rng::Rng`] instead.

use std::io::Read;

/// `N` bytes from the kernel's generator.
pub fn bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut out)?;
    Ok(out)
}

/// `N` random bytes as `2 N` lowercase hex digits.
pub fn hex<const N: usize>() -> std::io::Result<String> {
    Ok(bytes::<N>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// A seed for a [`crate::rng::Rng`] that differs from run to run.
pub fn seed() -> std::io::Result<u64> {
    bytes::<8>().map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_twice_as_long_and_differs_between_calls() {
        let (a, b) = (super::hex::<16>().unwrap(), super::hex::<16>().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b, "128 random bits twice alike");
    }
}
