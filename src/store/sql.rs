//! SQL text with its bind values, written once for both dialects.
//!
//! Everything a user sends (values, field paths, patterns) becomes a bound parameter; the only
//! text spliced into SQL is our own constants. The two dialects differ only in placeholders and
//! in how a JSON path is read, so those live here and the filter/sort compilers stay generic.

use sea_orm::{DbBackend, Statement, Value};

/// A piece of SQL under construction and the values its placeholders stand for, in order.
#[derive(Clone, Debug)]
pub struct Sql {
    backend: DbBackend,
    /// The table (or alias) whose columns filters and sorts name: `documents` or `users`.
    rows: &'static str,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// Starts empty SQL for one backend.
    pub fn new(backend: DbBackend) -> Self {
        Self::for_rows(backend, "documents")
    }

    /// Starts empty SQL whose filters and sorts read columns of `rows` (a table or alias).
    pub fn for_rows(backend: DbBackend, rows: &'static str) -> Self {
        Self {
            backend,
            rows,
            text: String::new(),
            values: Vec::new(),
        }
    }

    /// The table or alias filters and sorts read from.
    pub fn rows(&self) -> &'static str {
        self.rows
    }

    /// Appends `rows.column`.
    pub fn column(&mut self, column: &str) -> &mut Self {
        let rows = self.rows;
        self.push(rows).push(".").push(column)
    }

    /// Whether this is PostgreSQL (otherwise SQLite).
    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// Appends our own SQL text (never user input).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        if self.is_postgres() {
            self.text.push('$');
            self.text.push_str(&self.values.len().to_string());
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends an expression giving the JSON value at `path` inside the `data` column:
    /// `jsonb` on PostgreSQL, SQLite's `json_extract` result on SQLite.
    pub fn json_value(&mut self, path: &[String]) -> &mut Self {
        if self.is_postgres() {
            self.push("jsonb_extract_path(").column("data");
            for segment in path {
                self.push(", ").bind(segment.clone());
            }
            self.push(")")
        } else {
            self.push("json_extract(")
                .column("data")
                .push(", ")
                .bind(sqlite_path(path))
                .push(")")
        }
    }

    /// Appends an expression giving the JSON type name at `path`, NULL when missing. SQLite
    /// names: `null true false integer real text array object`; PostgreSQL (`jsonb_typeof`):
    /// `null boolean number string array object`.
    pub fn json_type(&mut self, path: &[String]) -> &mut Self {
        if self.is_postgres() {
            self.push("jsonb_typeof(").json_value(path).push(")")
        } else {
            self.push("json_type(")
                .column("data")
                .push(", ")
                .bind(sqlite_path(path))
                .push(")")
        }
    }

    /// Appends the text at `path` written with the path as a literal, the exact expression of
    /// the indexes hooks.yaml declares (`collections.<name>.indexes`), so that equality on a
    /// declared field can use its index. Strings give their text; callers check the type.
    pub fn indexed_text(&mut self, path: &[String]) -> &mut Self {
        let column = format!("{}.data", self.rows);
        let expression = indexed_expression(self.is_postgres(), &column, path);
        self.push(&expression)
    }

    /// Appends the value at `path` as SQL text (strings only are meant to be compared this
    /// way), in byte order on both backends.
    pub fn json_text(&mut self, path: &[String]) -> &mut Self {
        if self.is_postgres() {
            self.push("(")
                .json_value(path)
                .push(" #>> '{}') COLLATE \"C\"")
        } else {
            self.json_value(path)
        }
    }

    /// Appends a test that the value at `path` is of `kind` (NULL when the field is missing).
    pub fn json_is(&mut self, path: &[String], kind: JsonKind) -> &mut Self {
        self.json_type(path);
        self.push(match (self.is_postgres(), kind) {
            (true, JsonKind::String) => " = 'string'",
            (true, JsonKind::Number) => " = 'number'",
            (true, JsonKind::Boolean) => " = 'boolean'",
            (false, JsonKind::String) => " = 'text'",
            (false, JsonKind::Number) => " IN ('integer', 'real')",
            (false, JsonKind::Boolean) => " IN ('true', 'false')",
        })
    }

    /// Appends the value at `path` as an SQL number; only meaningful where [`json_is`]
    /// (Number) holds, which callers guard with CASE.
    ///
    /// [`json_is`]: Sql::json_is
    pub fn json_number(&mut self, path: &[String]) -> &mut Self {
        if self.is_postgres() {
            self.push("(").json_value(path).push(")::numeric")
        } else {
            self.json_value(path)
        }
    }

    /// The finished statement.
    pub fn into_statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }

    /// The SQL text so far (for tests and debugging).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many values are bound so far.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }
}

/// The JSON types a comparison or sort distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// A JSON string.
    String,
    /// A JSON number (integer or not).
    Number,
    /// `true` or `false`.
    Boolean,
}

/// The text at `path` inside `column`, the path written as SQL literals: SQLite's
/// `json_extract(data, '$."a"."b"')`, PostgreSQL's `(data -> 'a' ->> 'b')`. Both the index
/// definitions and the queries that should use them are written with it.
pub fn indexed_expression(postgres: bool, column: &str, path: &[String]) -> String {
    let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
    if postgres {
        let mut out = format!("({column}");
        for (i, segment) in path.iter().enumerate() {
            let arrow = if i + 1 == path.len() { " ->> " } else { " -> " };
            out.push_str(arrow);
            out.push_str(&literal(segment));
        }
        out.push(')');
        out
    } else {
        format!("json_extract({column}, {})", literal(&sqlite_path(path)))
    }
}

/// An SQLite JSON path for object keys, each quoted: `$."author"."name"`. Keys were checked to
/// hold only letters, digits, `_` and `-`, so no escaping is needed.
pub fn sqlite_path(path: &[String]) -> String {
    let mut out = String::from("$");
    for segment in path {
        out.push_str(".\"");
        out.push_str(segment);
        out.push('"');
    }
    out
}
