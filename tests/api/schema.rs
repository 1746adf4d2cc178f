//! The GraphQL schema is a contract with clients: `docs/schema.graphql` holds it as the
//! server prints it, and this test fails on any difference, so a change to a name, a type or
//! a description shows up in review as a change to that file. After an intended change,
//! rewrite the file with `HOOKQL_WRITE_SCHEMA=1 cargo test --test api schema`.

#[test]
fn the_schema_is_the_one_in_docs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.graphql");
    let sdl = hookql::graphql::sdl();
    if std::env::var_os("HOOKQL_WRITE_SCHEMA").is_some() {
        std::fs::write(path, &sdl).expect("docs/schema.graphql is writable");
    }
    let documented = std::fs::read_to_string(path).expect("docs/schema.graphql exists");
    if documented != sdl {
        let line = documented
            .lines()
            .zip(sdl.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |n| format!("line {}", n + 1));
        panic!("the schema differs from docs/schema.graphql from {line}; if the change is intended, rewrite the file with HOOKQL_WRITE_SCHEMA=1");
    }
}
