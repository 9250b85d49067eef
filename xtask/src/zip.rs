//! Reading just enough of a zip and an ELF file to prove a package holds
//! the binary it should: the central directory's entries, and a binary's
//! machine type.

use anyhow::{bail, ensure, Context as _};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub crc32: u32,
    pub size: u64,
    /// Unix permission bits, if the zip was made on Unix.
    pub mode: Option<u32>,
}

fn u16_at(b: &[u8], at: usize) -> anyhow::Result<u16> {
    let bytes = b.get(at..at + 2).context("truncated zip")?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn u32_at(b: &[u8], at: usize) -> anyhow::Result<u32> {
    let bytes = b.get(at..at + 4).context("truncated zip")?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The entries of a zip's central directory.
pub fn entries(zip: &[u8]) -> anyhow::Result<Vec<Entry>> {
    const END: u32 = 0x0605_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    let search_from = zip.len().saturating_sub(22 + 65_535);
    let end = (search_from..zip.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(zip, at).ok() == Some(END))
        .context("no end-of-central-directory record: not a zip")?;
    let count = u16_at(zip, end + 10)? as usize;
    let mut at = u32_at(zip, end + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        ensure!(u32_at(zip, at)? == CENTRAL, "bad central directory entry at byte {at}");
        let made_on_unix = u16_at(zip, at + 4)? >> 8 == 3;
        let name_len = u16_at(zip, at + 28)? as usize;
        let extra_len = u16_at(zip, at + 30)? as usize;
        let comment_len = u16_at(zip, at + 32)? as usize;
        let name = zip.get(at + 46..at + 46 + name_len).context("truncated zip")?;
        entries.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            crc32: u32_at(zip, at + 16)?,
            size: u64::from(u32_at(zip, at + 24)?),
            mode: made_on_unix.then(|| u32_at(zip, at + 38).map(|a| a >> 16)).transpose()?,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// CRC-32 (IEEE), as zip records it.
pub fn crc32(data: &[u8]) -> u32 {
    let table: Vec<u32> =
        (0..256u32).map(|n| (0..8).fold(n, |c, _| if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 })).collect();
    !data.iter().fold(!0u32, |c, &b| table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8))
}

/// The machine an ELF executable is built for, as `file` would name it.
pub fn elf_machine(binary: &[u8]) -> anyhow::Result<&'static str> {
    if binary.get(..4) != Some(b"\x7fELF".as_slice()) {
        bail!("not an ELF file");
    }
    Ok(match u16_at(binary, 18)? {
        0xB7 => "ARM aarch64",
        0x3E => "x86-64",
        _ => "another machine",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// A one-entry zip stored without compression, written by hand.
    fn tiny_zip(name: &str, data: &[u8]) -> Vec<u8> {
        let crc = crc32(data).to_le_bytes();
        let size = (data.len() as u32).to_le_bytes();
        let name_len = (name.len() as u16).to_le_bytes();
        let mut zip = Vec::new();
        zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&crc);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&name_len);
        zip.extend_from_slice(&[0, 0]);
        zip.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(data);
        let central_at = zip.len() as u32;
        zip.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&crc);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&size);
        zip.extend_from_slice(&name_len);
        zip.extend_from_slice(&[0; 8]);
        zip.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes());
        zip.extend_from_slice(&0u32.to_le_bytes());
        zip.extend_from_slice(name.as_bytes());
        let central_len = zip.len() as u32 - central_at;
        zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        zip.extend_from_slice(&central_len.to_le_bytes());
        zip.extend_from_slice(&central_at.to_le_bytes());
        zip.extend_from_slice(&[0, 0]);
        zip
    }

    #[test]
    fn reads_the_central_directory() {
        let zip = tiny_zip("bootstrap", b"\x7fELF");
        let entries = entries(&zip).unwrap();
        assert_eq!(
            entries,
            vec![Entry { name: "bootstrap".into(), crc32: crc32(b"\x7fELF"), size: 4, mode: Some(0o100_755) }]
        );
        assert!(super::entries(b"not a zip at all, just some bytes").is_err());
    }

    #[test]
    fn names_the_machine() {
        let mut elf = b"\x7fELF".to_vec();
        elf.resize(20, 0);
        elf[18] = 0xB7;
        assert_eq!(elf_machine(&elf).unwrap(), "ARM aarch64");
        elf[18] = 0x3E;
        assert_eq!(elf_machine(&elf).unwrap(), "x86-64");
        assert!(elf_machine(b"#!/bin/sh").is_err());
    }
}
