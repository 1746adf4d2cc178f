//! Collection names, parsed once at the edge so the store never sees an invalid one.

use std::fmt;

/// A valid collection name: `[a-z][a-z0-9_]{0,62}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CollectionName(String);

impl CollectionName {
    /// Parses a name, saying what is expected when it is not valid.
    pub fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let valid = matches!(chars.next(), Some('a'..='z'))
            && name.len() <= 63
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
        if valid {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "invalid collection name `{}`: expected 1 to 63 characters of a-z, 0-9 and _, starting with a letter",
                name.chars().take(80).collect::<String>()
            ))
        }
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses() {
        assert!(CollectionName::parse("posts").is_ok());
        assert!(CollectionName::parse("a1_b").is_ok());
        assert!(CollectionName::parse(&"a".repeat(63)).is_ok());
        for bad in [
            "",
            "Posts",
            "1posts",
            "po-sts",
            "posts;drop",
            &"a".repeat(64),
            "_x",
        ] {
            assert!(CollectionName::parse(bad).is_err(), "{bad}");
        }
    }
}
