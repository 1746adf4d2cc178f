//! `${NAME}` and `${NAME:-default}` substitution in hooks.yaml strings.
//!
//! `config` values are expanded from the environment; a hook's `url`, `headers` and `secret`
//! are expanded from `config` first, then the environment. A name with no value and no default
//! is an error at load time, never an empty string at run time. `$$` writes a literal `$`.

/// Expands `text`, looking names up with `lookup`.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            return Err(format!(
                "unclosed `${{` in `{text}`: write `${{NAME}}`, or `$$` for a literal `$`"
            ));
        };
        let body = &body_and_tail[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`${{{body}}}`: a variable name is letters, digits and `_`, not starting with a digit"));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!("`${{{name}}}` is not set: set the environment variable {name}, add it to `config`, or write `${{{name}:-default}}`"))
            }
        }
        rest = &body_and_tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "example.org".to_string())
    }

    #[test]
    fn expands_defaults_and_escapes() {
        assert_eq!(
            expand("http://${HOST}/x", &env).unwrap(),
            "http://example.org/x"
        );
        assert_eq!(expand("${PORT:-9000}", &env).unwrap(), "9000");
        assert_eq!(expand("cost $$5 and $x", &env).unwrap(), "cost $5 and $x");
        assert_eq!(expand("${EMPTY:-}", &env).unwrap(), "");
    }

    #[test]
    fn missing_and_malformed_are_errors() {
        assert!(expand("${NOPE}", &env)
            .unwrap_err()
            .contains("`${NOPE}` is not set"));
        assert!(expand("${HOST", &env).unwrap_err().contains("unclosed"));
        assert!(expand("${1X}", &env).is_err());
    }
}
