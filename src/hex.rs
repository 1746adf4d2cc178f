//! Lower-case hexadecimal text of bytes (hashes, generated secrets, index names).

/// `bytes` as lower-case hex, two characters per byte.
pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_characters_per_byte() {
        assert_eq!(super::encode(&[0, 15, 255]), "000fff");
    }
}
