//! The layering ARCHITECTURE.md describes, checked on the source: which top-level module
//! of `src/` imports which, with no circle between them; `report` below `app` and `cli`;
//! one place that names the served engine; nothing that points outside the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = entry.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The top-level modules `text` names through `crate::` (paths and `use crate::{..}`).
fn imports(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for part in inner.split(',') {
                let name = part.trim().split("::").next().unwrap_or("").trim();
                found.insert(name.to_owned());
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

/// Module → the modules it imports, each edge with one file that makes it.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut g: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for f in &files {
        let Some(from) = top_module(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("a source file is readable");
        for to in imports(&text, &modules) {
            if to != from {
                g.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert(f.clone());
            }
        }
    }
    g
}

/// Every module `from` reaches, with the path taken.
fn reach(
    g: &BTreeMap<String, BTreeMap<String, PathBuf>>,
    from: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    while let Some((m, path)) = stack.pop() {
        for next in g.get(&m).into_iter().flat_map(|e| e.keys()) {
            if !seen.contains_key(next) {
                let mut p = path.clone();
                p.push(next.clone());
                seen.insert(next.clone(), p.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    seen
}

#[test]
fn top_level_modules_import_each_other_without_a_circle() {
    let g = graph();
    assert!(g.contains_key("app") && g.contains_key("cli"), "{g:?}");
    let mut circles = Vec::new();
    for m in g.keys() {
        if let Some(path) = reach(&g, m).get(m) {
            let edges: Vec<String> = path
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]].display()))
                .collect();
            circles.push(edges.join(", "));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn report_and_everything_below_it_import_neither_cli_nor_app() {
    let g = graph();
    for low in [
        "report", "runner", "engine", "openai", "metrics", "workload", "model", "serve",
    ] {
        let reached = reach(&g, low);
        for high in ["cli", "app"] {
            assert!(
                !reached.contains_key(high),
                "{low} reaches {high} through {:?}",
                reached[high]
            );
        }
    }
    // The wire stack knows no engine.
    assert!(!reach(&g, "openai").contains_key("engine"));
}

#[test]
fn the_served_engine_is_named_only_where_engines_are_built_and_named() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let named: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .expect("a source file is readable")
                .contains("EngineKind::Http")
        })
        .map(|f| f.strip_prefix(&src).unwrap().display().to_string())
        .collect();
    assert_eq!(named, ["engine/mod.rs"]);
}

/// The repository's Markdown files, by name (outside build output and git's folder).
fn markdown_names(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let p = entry.expect("a directory entry").path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                markdown_names(&p, out);
            }
        } else if name.ends_with(".md") {
            out.insert(name);
        }
    }
}

#[test]
fn the_documents_point_at_nothing_outside_the_repository() {
    let r = root();
    let mut present = BTreeSet::new();
    markdown_names(&r, &mut present);
    // An output file that another benchmark's contract names in upper case (`suite
    // year1` writes sageLLM's REPORT.md), not a project document.
    present.insert("REPORT.md".to_owned());
    let mut files = vec![
        r.join("README.md"),
        r.join("ARCHITECTURE.md"),
        r.join("BENCHMARKS.md"),
        r.join("kernels/README.md"),
        r.join("Cargo.toml"),
    ];
    rust_files(&r.join("src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let dir = f.parent().expect("a file has a folder");
        // Every project document named (README.md, ARCHITECTURE.md: upper-case names;
        // lower-case ones are output files such as `latest.md`) is one the repository has.
        let document = |n: &&str| {
            n.strip_suffix(".md").is_some_and(|stem| {
                !stem.is_empty() && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
        };
        let root_dir = r.canonicalize().expect("the repository's folder");
        for word in text.split(|c: char| !(c.is_alphanumeric() || "._-/".contains(c))) {
            // A relative path that climbs (`include_str!("../../models/...")`) must land
            // on something inside the repository.
            if word.starts_with("../") {
                let inside = dir
                    .join(word)
                    .canonicalize()
                    .is_ok_and(|p| p.starts_with(&root_dir));
                assert!(
                    inside,
                    "{} names {word}, which is not in the repository",
                    f.display()
                );
            }
            if let Some(name) = word.rsplit('/').next().filter(document) {
                assert!(
                    present.contains(name),
                    "{} names {word}, which the repository does not have",
                    f.display()
                );
            }
        }
        // Every relative link of a Markdown document leads to something in the repository
        // (in Rust sources `](..)` is an intra-doc link to an item).
        let markdown = f.extension().is_some_and(|e| e == "md");
        for (i, _) in text.match_indices("](").filter(|_| markdown) {
            let target = &text[i + 2..];
            let target = &target[..target.find(')').unwrap_or(target.len())];
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            assert!(
                dir.join(path).exists(),
                "{} links to {target}, which is not in the repository",
                f.display()
            );
        }
    }
}
