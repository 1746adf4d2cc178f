//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): `v1,` + base64 of
//! HMAC-SHA256 over `id.timestamp.body`, one per secret, space-separated, so a receiver
//! rotating secrets accepts either while both are configured.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::secret::{signing_key, Secret};

/// The `webhook-signature` header value for a message.
pub fn signature(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut header = String::new();
    for secret in secrets {
        // Checked at load: every configured secret has a valid key.
        let Ok(key) = signing_key(secret.expose()) else {
            continue;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str("v1,");
        header.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_the_specification_example() {
        let secrets = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into())];
        let header = signature(
            &secrets,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_secret_signs_and_plain_text_secrets_work() {
        let secrets = [
            Secret::new("old-secret".into()),
            Secret::new("whsec_bmV3".into()),
        ];
        let header = signature(&secrets, "id", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert!(signing_key("whsec_not base64!").is_err());
        assert_eq!(signing_key("plain").unwrap(), b"plain");
    }
}
