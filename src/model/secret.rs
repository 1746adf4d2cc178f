//! Secrets from hooks.yaml and the environment: wrapped so `Debug` never shows them.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A secret string whose `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The key bytes of a webhook signing secret: a `whsec_…` secret is base64 (as the Standard
/// Webhooks libraries generate them); any other text is used as it is. Here rather than with
/// the signer because hooks.yaml is checked with it when it loads.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD.decode(encoded).map_err(|_| {
            "a secret starting with `whsec_` must continue in base64 (as Standard Webhooks libraries generate them); use plain text without the prefix otherwise".to_string()
        }),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(***)"
        );
    }
}
