//! The module graph has no cycles, and the crate's layers only look down. Among the children
//! of any module, `a` using `b` and `b` using `a` (directly or around a loop) fails, naming
//! the lines that make each edge; and a top-level module using one from a layer above it (in
//! [`LAYERS`], the table of ARCHITECTURE.md) fails the same way. Why a test and not a drawing: a reviewer's tool shows the graph once, this keeps it
//! true on every run. It reads `src/` as text: every `crate::…`, `super::…` and `self::…`
//! path outside comments and `#[cfg(test)]` modules counts, resolved to the longest module it
//! names. References between a module and its own descendants are not edges (a parent
//! re-exports its children); the layers above and below are in ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type ModPath = Vec<String>;

/// Every module of the library, by file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn modules(src: &Path) -> BTreeMap<ModPath, String> {
    fn walk(dir: &Path, prefix: &ModPath, out: &mut BTreeMap<ModPath, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut inner = prefix.clone();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.clone();
                match stem {
                    "mod" | "lib" => {}
                    "main" if prefix.is_empty() => continue, // the binary, not the library
                    _ => module.push(stem.to_string()),
                }
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &Vec::new(), &mut out);
    out
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut all = text.lines().enumerate().peekable();
    while let Some((i, line)) = all.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && all
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod "))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        lines.push((i + 1, line.to_string()));
    }
    lines
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a line names from `crate`, `super` or `self`, made absolute; `{a, b::c}` groups
/// are expanded.
fn referenced_paths(module: &ModPath, line: &str) -> Vec<ModPath> {
    let mut found = Vec::new();
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':';
        let rest: String = bytes[i..].iter().collect();
        let base = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with("super::") || rest.starts_with("self::") {
            let mut base = module.clone();
            let mut at = 0;
            loop {
                let tail = &rest[at..];
                if tail.starts_with("super::") {
                    base.pop();
                    at += "super::".len();
                } else if tail.starts_with("self::") {
                    at += "self::".len();
                } else {
                    break;
                }
            }
            Some((base, at))
        } else {
            None
        };
        let Some((base, skip)) = base else {
            i += 1;
            continue;
        };
        let tail: String = rest[skip..].to_string();
        for path in expand(&tail) {
            let mut full = base.clone();
            full.extend(path);
            found.push(full);
        }
        i += skip.max(1);
    }
    found
}

/// `a::b::C`, `a::{b, c::d}` → the segment lists they name.
fn expand(tail: &str) -> Vec<ModPath> {
    let mut path = Vec::new();
    let mut rest = tail;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if end > 0 {
            path.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        if let Some(after) = rest.strip_prefix("::") {
            rest = after;
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut items = vec![String::new()];
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        items.push(String::new());
                        continue;
                    }
                    _ => {}
                }
                items.last_mut().unwrap().push(c);
            }
            let mut out = Vec::new();
            for item in items {
                for inner in expand(item.trim()) {
                    let mut full = path.clone();
                    full.extend(inner);
                    out.push(full);
                }
            }
            if out.is_empty() {
                out.push(path);
            }
            return out;
        }
        return vec![path];
    }
}

/// The module a path names: its longest prefix that is a module.
fn resolve(modules: &BTreeMap<ModPath, String>, path: &ModPath) -> ModPath {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains_key(prefix))
        .unwrap_or_default()
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        found: Vec<Vec<String>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, node: &str) {
            let n = self.index.len();
            self.index.insert(node.to_string(), n);
            self.low.insert(node.to_string(), n);
            self.stack.push(node.to_string());
            self.on_stack.insert(node.to_string());
            for next in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node.to_string(), low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node.to_string(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(&top);
                    let done = top == node;
                    component.push(top);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

/// Edges between sibling modules, per parent, with the lines that make each.
type Edges = BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>>;
type Why = BTreeMap<(ModPath, String, String), Vec<String>>;

fn sibling_edges() -> (Edges, Why) {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let modules = modules(src);
    assert!(modules.len() > 50, "read the crate's modules");
    let mut graphs: Edges = BTreeMap::new();
    let mut why: Why = BTreeMap::new();
    for (module, text) in &modules {
        for (number, line) in code_lines(text) {
            for path in referenced_paths(module, &line) {
                let target = resolve(&modules, &path);
                let common = module
                    .iter()
                    .zip(&target)
                    .take_while(|(a, b)| a == b)
                    .count();
                if common == module.len() || common == target.len() {
                    continue; // itself, an ancestor or a descendant
                }
                let parent = module[..common].to_vec();
                let (from, to) = (module[common].clone(), target[common].clone());
                graphs
                    .entry(parent.clone())
                    .or_default()
                    .entry(from.clone())
                    .or_default()
                    .insert(to.clone());
                why.entry((parent, from, to)).or_default().push(format!(
                    "{}:{number}: {}",
                    module.join("::"),
                    line.trim()
                ));
            }
        }
    }
    (graphs, why)
}

#[test]
fn no_module_depends_on_a_module_that_depends_back_on_it() {
    let (graphs, why) = sibling_edges();
    let mut report = String::new();
    for (parent, edges) in &graphs {
        for cycle in cycles(edges) {
            let parent_name = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            report.push_str(&format!(
                "\ncycle among the children of `{parent_name}`: {}\n",
                cycle.join(", ")
            ));
            for from in &cycle {
                for to in &cycle {
                    if let Some(lines) = why.get(&(parent.clone(), from.clone(), to.clone())) {
                        report.push_str(&format!("  {from} -> {to}:\n"));
                        for line in lines.iter().take(3) {
                            report.push_str(&format!("    {line}\n"));
                        }
                    }
                }
            }
        }
    }
    assert!(report.is_empty(), "import cycles:{report}");
}

/// The crate's layers, top first (ARCHITECTURE.md): a module may use its own layer's
/// modules and those below, never above. [`LEAVES`] may be used by any layer.
const LAYERS: &[&[&str]] = &[
    &["cli", "app"],
    &["server"],
    &["graphql"],
    &["service"],
    &["state"],
    &["hooks"],
    &["auth"],
    &["manifest"],
    &["store"],
    &["model"],
];

/// Modules anything may use; they use only each other and `model`.
const LEAVES: &[&str] = &[
    "settings",
    "metrics",
    "request_id",
    "tasks",
    "telemetry",
    "hex",
    "secret_key",
];

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let (graphs, why) = sibling_edges();
    let rank = |name: &str| {
        if LEAVES.contains(&name) {
            return Some(LAYERS.len());
        }
        LAYERS.iter().position(|layer| layer.contains(&name))
    };
    let mut report = String::new();
    for (from, targets) in graphs.get(&Vec::new()).into_iter().flatten() {
        let Some(from_rank) = rank(from) else {
            report.push_str(&format!(
                "\n`{from}` is in no layer: add it to LAYERS or LEAVES\n"
            ));
            continue;
        };
        for to in targets {
            let to_rank = rank(to).unwrap_or(0);
            let leaf_uses_model = LEAVES.contains(&from.as_str()) && to == "model";
            if to_rank < from_rank && !leaf_uses_model {
                report.push_str(&format!("\n`{from}` uses `{to}`, a layer above it:\n"));
                for line in why[&(Vec::new(), from.clone(), to.clone())].iter().take(3) {
                    report.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    assert!(report.is_empty(), "upward imports:{report}");
}

#[test]
fn paths_resolve_as_rust_does() {
    let module: ModPath = vec!["store".into(), "documents".into()];
    let found = referenced_paths(
        &module,
        "use super::{filter::Filter, sql::Sql}; let x = crate::hooks::{a, b::C};",
    );
    let as_text: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        as_text,
        [
            "store::filter::Filter",
            "store::sql::Sql",
            "hooks::a",
            "hooks::b::C"
        ]
    );
    assert!(referenced_paths(&module, "let x = a_crate::b;").is_empty());
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycles(&edges), [vec!["a".to_string(), "b".to_string()]]);
}
