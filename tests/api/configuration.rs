//! docs/configuration.md against the real settings: every `HOOKQL_*` variable the server reads
//! is documented there (with its flag), and every one documented there is read. The settings
//! come from the clap definition the server parses its flags and environment with, not from a
//! copy of it (nor from the source text or `--help`, whose layout may change).

use std::collections::BTreeSet;

use clap::Args as _;

/// `HOOKQL_*` names docs/configuration.md gives that are not server settings: the sample
/// hooks.yaml's own `${HOOKQL_INVITE_ONLY}`, and the test suite's and CI's variables.
const NOT_SETTINGS: &[&str] = &[
    "HOOKQL_INVITE_ONLY",
    "HOOKQL_TEST_DATABASE_URL",
    "HOOKQL_FUZZ_SEED",
    "HOOKQL_FUZZ_CASES",
    "HOOKQL_CI_POSTGRES_URL",
    "HOOKQL_WRITE_SCHEMA",
];

#[test]
fn the_configuration_reference_names_every_setting_and_nothing_else() {
    let command = hookql::Settings::augment_args(clap::Command::new("hookql"));
    let settings: BTreeSet<String> = command
        .get_arguments()
        .filter_map(clap::Arg::get_env)
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    assert!(settings.len() >= 30, "the settings were read: {settings:?}");
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let flags_missing: Vec<String> = command
        .get_arguments()
        .filter_map(clap::Arg::get_long)
        .map(|long| format!("`--{long}`"))
        .filter(|flag| !doc.contains(flag.as_str()))
        .collect();
    assert!(
        flags_missing.is_empty(),
        "flags docs/configuration.md does not name: {flags_missing:?}"
    );
    let named: BTreeSet<String> = doc
        .match_indices("HOOKQL_")
        .map(|(at, _)| {
            let rest = &doc[at..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .filter(|name| name != "HOOKQL_") // the prefix itself, as in "`HOOKQL_…` variables"
        .collect();
    let undocumented: Vec<_> = settings.difference(&named).collect();
    assert!(
        undocumented.is_empty(),
        "settings docs/configuration.md does not name: {undocumented:?}"
    );
    let unknown: Vec<_> = named
        .iter()
        .filter(|name| !settings.contains(*name) && !NOT_SETTINGS.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md names variables no setting reads: {unknown:?}"
    );
}
