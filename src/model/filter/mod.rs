//! The filter language (docs/graphql.md): a JSON boolean expression, parsed into a typed tree.
//!
//! One parser serves queries, access rules, hook `when` clauses and (later) subscriptions, so
//! a filter means the same thing everywhere. Parsing is strict: an unknown operator, a field
//! path with odd characters or an operand of the wrong shape is an error naming the exact
//! place (`filter.status._eq`), never silently ignored. The store turns the tree into SQL (`store::filter_sql`); [`eval`]
//! tests it in memory.

pub mod eval;
pub mod like;
mod parse;

use serde_json::Value;

/// Longest nesting of `_and`/`_or`/`_not` and field objects a filter may have.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons (and `_in` items) one filter may hold; keeps SQL and bind lists small.
pub const MAX_TERMS: usize = 256;
/// Most dot-separated segments in one field path.
pub const MAX_PATH_SEGMENTS: usize = 8;
/// Longest string operand, in bytes: enough for any key or phrase a filter compares with.
pub const MAX_OPERAND_BYTES: usize = 4096;
/// Longest `_like`/`_ilike` pattern, in bytes. SQLite refuses patterns over 50,000 bytes
/// with an error, and a pattern costs every matcher (SQL and in memory) time in proportion
/// to its length for every character of every row it is tested on.
pub const MAX_PATTERN_BYTES: usize = 256;
/// Most `_like`/`_ilike` pattern bytes in one whole filter, for the same reason.
pub const MAX_FILTER_PATTERN_BYTES: usize = 1024;
/// Most objects (`_and`/`_or` items, `_not`s, field objects, `{}`) one filter may hold. An
/// empty `{}` compares nothing, yet a list of 600,000 of them held 110 MB per subscription,
/// and SQLite refuses expression trees deeper than 1,000.
pub const MAX_NODES: usize = 512;
/// Most string bytes in one whole filter. A filter reaches `pre_read` hooks in their
/// payload: this keeps what a client sends far below a script's own limits (1 MiB), so a
/// client cannot make a security hook fail by sending a huge filter.
pub const MAX_FILTER_STRING_BYTES: usize = 64 * 1024;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Every sub-filter holds (an empty list always holds).
    And(Vec<Filter>),
    /// At least one sub-filter holds (an empty list never holds).
    Or(Vec<Filter>),
    /// The sub-filter does not hold. Filters are two-valued: `_not` is the exact complement.
    Not(Box<Filter>),
    /// One comparison on one field.
    Compare(Field, Op),
}

/// What a comparison looks at.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// A column every document has.
    Meta(MetaField),
    /// A path into the document's data object, one key per segment.
    Data(Vec<String>),
}

/// What a filter selects: documents, or (for admins) app users. It decides which top-level
/// names are columns; every other name is a path into the row's `data` object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Documents: `id ownerId createdAt updatedAt version`.
    #[default]
    Documents,
    /// App users: `id email role createdAt updatedAt lastLoginAt`.
    Users,
}

/// The columns a filter or sort may name at the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaField {
    /// `id`: the document id (a string).
    Id,
    /// `ownerId`: the creating user's id (a string or null).
    OwnerId,
    /// `createdAt`: compared with RFC 3339 strings.
    CreatedAt,
    /// `updatedAt`: compared with RFC 3339 strings.
    UpdatedAt,
    /// `version`: an integer.
    Version,
    /// A user's `email` (lower-cased).
    Email,
    /// A user's `role`.
    Role,
    /// A user's `lastLoginAt`: compared with RFC 3339 strings; null before the first sign-in.
    LastLoginAt,
}

impl MetaField {
    /// The meta field a top-level name refers to; these names are reserved in filters and sorts.
    pub fn from_name(name: &str, target: Target) -> Option<Self> {
        Some(match (name, target) {
            ("id", _) => Self::Id,
            ("createdAt", _) => Self::CreatedAt,
            ("updatedAt", _) => Self::UpdatedAt,
            ("ownerId", Target::Documents) => Self::OwnerId,
            ("version", Target::Documents) => Self::Version,
            ("email", Target::Users) => Self::Email,
            ("role", Target::Users) => Self::Role,
            ("lastLoginAt", Target::Users) => Self::LastLoginAt,
            _ => return None,
        })
    }

    /// Whether the column holds text (ids, emails, roles): those take strings and `_like`.
    pub fn is_text(self) -> bool {
        matches!(self, Self::Id | Self::OwnerId | Self::Email | Self::Role)
    }

    /// Whether the column holds a timestamp (compared with RFC 3339 strings).
    pub fn is_timestamp(self) -> bool {
        matches!(self, Self::CreatedAt | Self::UpdatedAt | Self::LastLoginAt)
    }

    /// The column holding this field.
    pub fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::OwnerId => "owner_id",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Version => "version",
            Self::Email => "email",
            Self::Role => "role",
            Self::LastLoginAt => "last_login_at",
        }
    }
}

/// A JSON scalar operand. Null is not an operand: `_is_null` says that.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A JSON string.
    Str(String),
    /// A JSON number without fraction that fits in an i64.
    Int(i64),
    /// Any other JSON number.
    Float(f64),
    /// A JSON boolean.
    Bool(bool),
}

/// A comparison operator with its operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `_eq`, or the shorthand `{"field": value}`.
    Eq(Scalar),
    /// `_neq`: of the operand's type and different.
    Neq(Scalar),
    /// `_gt`: numbers or strings.
    Gt(Scalar),
    /// `_gte`
    Gte(Scalar),
    /// `_lt`
    Lt(Scalar),
    /// `_lte`
    Lte(Scalar),
    /// `_in`: equal to one of the operands.
    In(Vec<Scalar>),
    /// `_nin`: of one of the operands' types and equal to none.
    Nin(Vec<Scalar>),
    /// `_like`: SQL LIKE pattern (`%`, `_`, `\` escapes), case-sensitive.
    Like(String),
    /// `_ilike`: like `_like`, ignoring the case of ASCII letters.
    Ilike(String),
    /// `_is_null: true` matches a missing or null field; `false` any other value.
    IsNull(bool),
    /// `_contains`: the field is an array holding every given scalar.
    Contains(Vec<Scalar>),
}

/// The operators a field object may use, for error messages.
pub const OPERATORS: &[&str] = &[
    "_eq",
    "_neq",
    "_gt",
    "_gte",
    "_lt",
    "_lte",
    "_in",
    "_nin",
    "_like",
    "_ilike",
    "_is_null",
    "_contains",
];

/// Why a filter was refused, and where in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FilterError {
    /// Where the problem is, as a dotted path from the argument (`filter.status._eq`).
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl Filter {
    /// Parses a filter given as JSON; `root` names the argument in error paths (`filter`).
    pub fn parse(value: &Value, root: &str) -> Result<Filter, FilterError> {
        parse::parse(value, root, Target::Documents, 1)
    }

    /// Parses a filter a hook wrote (a `pre_read` answer, a `db` helper's filter). Hooks
    /// wrap what clients send (`#{_and: [filter, visible]}`), so their filters get twice the
    /// limits: a client filter within the limits never makes its hook fail.
    pub fn parse_from_hook(value: &Value, root: &str) -> Result<Filter, FilterError> {
        parse::parse(value, root, Target::Documents, 2)
    }

    /// Parses a filter on app users (`users(filter:)`).
    pub fn parse_users(value: &Value, root: &str) -> Result<Filter, FilterError> {
        parse::parse(value, root, Target::Users, 1)
    }

    /// A filter that no document matches.
    pub fn never() -> Filter {
        Filter::Or(Vec::new())
    }

    /// A filter that every document matches.
    pub fn always() -> Filter {
        Filter::And(Vec::new())
    }
}

/// Parses an RFC 3339 date-time into Unix microseconds, the form timestamps are stored in.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("`{text}` is not an RFC 3339 date-time such as \"2026-01-31T12:00:00Z\"")
        })
}

/// Parses a field path: a meta field name, or dot-separated data keys of safe characters.
///
/// Keys are restricted to letters, digits, `_` and `-` so that a path can never carry SQL or
/// JSON-path syntax; paths are still bound as parameters, never spliced.
pub fn parse_field(key: &str, target: Target) -> Result<Field, String> {
    if let Some(meta) = MetaField::from_name(key, target) {
        return Ok(Field::Meta(meta));
    }
    let segments: Vec<&str> = key.split('.').collect();
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(format!(
            "a field path may have at most {MAX_PATH_SEGMENTS} segments"
        ));
    }
    for segment in &segments {
        let valid = !segment.is_empty()
            && segment.len() <= 128
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "invalid field path `{key}`: each dot-separated key must be 1 to 128 letters, digits, `_` or `-`"
            ));
        }
    }
    Ok(Field::Data(
        segments.into_iter().map(str::to_string).collect(),
    ))
}

/// The closest known name to a misspelt one, if it is close enough to be a likely typo.
pub fn suggest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (levenshtein(wrong, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Filter, FilterError> {
        Filter::parse(&v, "filter")
    }

    #[test]
    fn shorthand_means_eq() {
        assert_eq!(
            parse(json!({"status": "published"})).unwrap(),
            Filter::Compare(
                Field::Data(vec!["status".into()]),
                Op::Eq(Scalar::Str("published".into()))
            )
        );
    }

    #[test]
    fn nested_paths_and_meta_fields() {
        let f = parse(json!({"author.name": {"_eq": "ann"}, "id": {"_eq": "x"}})).unwrap();
        let Filter::And(items) = f else {
            panic!("expected and")
        };
        assert_eq!(
            items[0],
            Filter::Compare(
                Field::Data(vec!["author".into(), "name".into()]),
                Op::Eq(Scalar::Str("ann".into()))
            )
        );
        assert_eq!(
            items[1],
            Filter::Compare(Field::Meta(MetaField::Id), Op::Eq(Scalar::Str("x".into())))
        );
    }

    #[test]
    fn unknown_operator_names_place_and_suggests() {
        let e = parse(json!({"views": {"_gtee": 3}})).unwrap_err();
        assert_eq!(e.path, "filter.views._gtee");
        assert!(e.message.contains("did you mean `_gte`"), "{}", e.message);
    }

    #[test]
    fn injection_in_path_is_refused() {
        let e = parse(json!({"a'); DROP TABLE documents; --": 1})).unwrap_err();
        assert!(e.message.contains("invalid field path"), "{}", e.message);
    }

    #[test]
    fn malformed_shapes_are_refused() {
        assert!(parse(json!([1])).is_err());
        assert!(parse(json!({"_or": {}})).is_err());
        assert!(parse(json!({"_nand": []})).is_err());
        assert!(parse(json!({"a": {"_in": 3}})).is_err());
        assert!(parse(json!({"a": {"_gt": true}})).is_err());
        assert!(parse(json!({"a": {"_eq": [1]}})).is_err());
        assert!(parse(json!({"createdAt": {"_gt": "yesterday"}})).is_err());
        assert!(parse(json!({"a": {}})).is_err());
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = json!({"a": 1});
        for _ in 0..20 {
            deep = json!({"_not": deep});
        }
        assert!(parse(deep).unwrap_err().message.contains("nest"));
        let many: Vec<i64> = (0..300).collect();
        assert!(parse(json!({"a": {"_in": many}}))
            .unwrap_err()
            .message
            .contains("at most"));
    }

    #[test]
    fn strings_are_bounded_one_by_one_and_in_all() {
        let long = "%".repeat(MAX_PATTERN_BYTES + 1);
        let e = parse(json!({"title": {"_like": long}})).unwrap_err();
        assert_eq!(e.path, "filter.title._like");
        assert!(e.message.contains("at most 256 bytes"), "{}", e.message);
        let patterns: Vec<Value> = (0..5)
            .map(|i| json!({format!("f{i}"): {"_like": "%".repeat(250)}}))
            .collect();
        let e = parse(json!({ "_or": patterns })).unwrap_err();
        assert!(e.message.contains("patterns"), "{}", e.message);
        let empty = vec![json!({}); MAX_NODES + 1];
        let e = parse(json!({ "_or": empty })).unwrap_err();
        assert!(e.message.contains("objects"), "{}", e.message);
        let wrapped = json!({"_and": [json!({"_or": vec![json!({}); MAX_NODES - 1]}), {"a": 1}]});
        assert!(Filter::parse_from_hook(&wrapped, "filter").is_ok());
        let e = parse(json!({"t": "x".repeat(MAX_OPERAND_BYTES + 1)})).unwrap_err();
        assert!(e.message.contains("string operand"), "{}", e.message);
        let many = vec!["x".repeat(4000); 20];
        let e = parse(json!({"t": {"_in": many}})).unwrap_err();
        assert!(e.message.contains("in all"), "{}", e.message);
        let e = parse(json!({"t": {"_like": "50\\"}})).unwrap_err();
        assert!(e.message.contains("lone"), "{}", e.message);
        assert!(parse(json!({"t": {"_like": "50\\\\"}})).is_ok());
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            suggest("pre_sav", &["pre_save", "post_save"]),
            Some("pre_save")
        );
        assert_eq!(suggest("zzzzzzzz", &["pre_save"]), None);
    }
}
