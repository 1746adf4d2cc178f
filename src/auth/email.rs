//! Email addresses: checked once at the edge, then carried as a type.

use std::fmt;

/// A syntactically valid email address, lower-cased (so `Ann@X.io` and `ann@x.io` are one
/// account). Deliverability is not checked: that needs a mail round-trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks `text` (surrounding spaces ignored); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_lowercase();
        let shown: String = text.chars().take(64).collect();
        let invalid = |why: &str| format!("`{shown}` is not an email address: {why}");
        if text.len() > 254 {
            return Err(invalid("at most 254 characters"));
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(invalid("expected name@domain, such as ann@example.com"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before @ must have 1 to 64 characters"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid(
                "the part before @ has characters an address cannot have",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(invalid(
                "the domain after @ must be names separated by dots, such as example.com",
            ));
        }
        Ok(Self(text))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        assert!(Email::parse("first.last+tag@mail.example.co.uk").is_ok());
    }

    #[test]
    fn refuses_with_a_reason() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "ann@localhost",
            "a b@x.io",
            "ann@x..io",
            "ann@-x.io",
            ".a@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse("ann").unwrap_err().contains("name@domain"));
    }
}
