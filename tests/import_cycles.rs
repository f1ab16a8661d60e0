//! No module imports, directly or through others, a module that imports it:
//! the crate, the model and the example kernels read as layers, each
//! depending only on those below it.
//!
//! The check reads the source as text. For every module directory (a crate
//! root, or a directory with `mod.rs`) its nodes are its child modules, and
//! child `a` depends on sibling `b` when a file of `a` names `b` by path:
//! `crate::b` (at the root), `super::b`, `crate::dir::b`, or an item the
//! parent re-exports from `b` (`crate::Item`, `super::Item`); a comment that
//! names `b` by its path counts too (a doc link up a floor is a dependency
//! for the reader). Test modules (`#[cfg(test)]` and what follows) are not
//! read. A cycle in any directory fails the test, with the file and path of
//! each edge.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module directory: its children, and for each child the siblings it
/// names.
#[derive(Debug, Default)]
struct Level {
    edges: BTreeMap<String, BTreeSet<String>>,
    /// For each edge, where it was seen first (file and path).
    evidence: BTreeMap<(String, String), String>,
}

/// The source of a module: `dir/name.rs` or `dir/name/mod.rs`, and the
/// directory its own children live in.
fn module_files(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    let flat = dir.join(format!("{name}.rs"));
    let nested = dir.join(name).join("mod.rs");
    if nested.exists() {
        Some((nested, dir.join(name)))
    } else if flat.exists() {
        Some((flat, dir.join(name)))
    } else {
        None
    }
}

/// The text of a file that names other modules, as (code, comments):
/// everything but the inline test module (`#[cfg(test)] mod tests {` and
/// what follows, which may reach anything) and test-only module
/// declarations (`#[cfg(test)] mod rig;`).
fn code(path: &Path) -> (String, String) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let (mut code, mut comments) = (String::new(), String::new());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            let next = lines.peek().map_or("", |next| next.trim());
            if next.ends_with('{') {
                break;
            }
            lines.next();
            continue;
        }
        let (text, comment) = line.split_at(line.find("//").unwrap_or(line.len()));
        code.push_str(text);
        code.push('\n');
        comments.push_str(comment);
        comments.push('\n');
    }
    (code, comments)
}

/// `mod name;` declarations (with `#[path]`-less files only).
fn child_modules(source: &str) -> Vec<String> {
    let mut children = Vec::new();
    for line in source.lines() {
        let line = line.trim();
        let rest = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "));
        if let Some(name) = rest.and_then(|rest| rest.strip_suffix(';')) {
            children.push(name.trim().to_string());
        }
    }
    children
}

/// Names a module file re-exports from each child: `pub use child::{A, B}`
/// and `pub use child::A` (also `pub(crate) use`).
fn reexports(source: &str, children: &[String]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    let flat = source.replace('\n', " ");
    for statement in flat.split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
            .or_else(|| statement.strip_prefix("pub(super) use "))
        else {
            continue;
        };
        let path = path.trim();
        let Some((child, rest)) = path.split_once("::") else {
            continue;
        };
        if !children.iter().any(|c| c == child) {
            continue;
        }
        let rest = rest.trim();
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(list) => list.trim_end_matches('}').split(',').collect(),
            None => vec![rest],
        };
        for item in items {
            let item = item.trim();
            let name = item.rsplit("::").next().unwrap_or(item);
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() && name != "self" {
                names.insert(name.to_string(), child.to_string());
            }
        }
    }
    names
}

/// Every path a file names that starts with `prefix` (for example
/// `crate::` or `super::`), as the segments after it, including those
/// inside `use prefix{a::b, c}` groups.
fn paths_after(source: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                paths.push(segments(item.trim()));
            }
        } else {
            paths.push(segments(rest));
        }
    }
    paths
}

fn segments(text: &str) -> Vec<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads the module directory whose module file is `file` (children in
/// `dir`) at crate path `path` (empty for the root), records its level and
/// recurses into children that are directories.
fn read_level(file: &Path, dir: &Path, path: &[String], levels: &mut BTreeMap<String, Level>) {
    let (source, _) = code(file);
    let children = child_modules(&source);
    if children.is_empty() {
        return;
    }
    let exported = reexports(&source, &children);
    let mut level = Level::default();
    for child in &children {
        let Some((child_file, child_dir)) = module_files(dir, child) else {
            continue;
        };
        // Every file of the child's subtree speaks for the child.
        let mut files = vec![child_file.clone()];
        collect_rs(&child_dir, &mut files);
        let mut named = BTreeSet::new();
        let mut seen = |sibling: &String, file: &Path, segs: &[String]| {
            level
                .evidence
                .entry((child.clone(), sibling.clone()))
                .or_insert_with(|| {
                    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
                    let shown = file.strip_prefix(manifest).unwrap_or(file);
                    format!("{}: {}", shown.display(), segs.join("::"))
                });
        };
        for file in &files {
            let (code, comments) = code(file);
            // From the crate root: the segment after this level's path.
            let from_root = |text: &str| {
                paths_after(text, "crate::")
                    .into_iter()
                    .filter_map(|segs| {
                        let inside = segs.len() > path.len() && segs[..path.len()] == *path;
                        inside.then(|| (segs[path.len()].clone(), segs))
                    })
                    .collect::<Vec<_>>()
            };
            // From the parent: only the child's own top file's `super::`
            // is the parent of the child (deeper files' `super::` is
            // handled at their own level).
            let from_parent = paths_after(&code, "super::")
                .into_iter()
                .filter(|_| *file == child_file)
                .filter_map(|segs| Some((segs.first()?.clone(), segs)))
                .filter(|(first, _)| first != "super");
            // A comment that names a module by its path (a doc link up a
            // floor) is a dependency for the reader too; one that names an
            // item the parent re-exports (`crate::Its`) is not: an error
            // names the calls that return it.
            let linked = from_root(&comments)
                .into_iter()
                .filter(|(first, _)| children.contains(first));
            for (first, segs) in from_root(&code)
                .into_iter()
                .chain(from_parent)
                .chain(linked)
            {
                // A sibling by name, or by an item the parent re-exports.
                let sibling = if children.contains(&first) {
                    first
                } else if let Some(owner) = exported.get(&first) {
                    owner.clone()
                } else {
                    continue;
                };
                if sibling != *child {
                    seen(&sibling, file, &segs);
                    named.insert(sibling);
                }
            }
        }
        level.edges.insert(child.clone(), named);
        if child_dir.is_dir() {
            let mut child_path = path.to_vec();
            child_path.push(child.clone());
            read_level(&child_file, &child_dir, &child_path, levels);
        }
    }
    let name = if path.is_empty() {
        "crate".to_string()
    } else {
        path.join("::")
    };
    levels.insert(name, level);
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_rs(&entry, files);
        } else if entry.extension().is_some_and(|e| e == "rs") {
            files.push(entry);
        }
    }
}

/// The groups of children that depend on each other (strongly connected
/// components of more than one module), each with its edges and where each
/// edge was seen: `{a, b}: a -> b (file: path), b -> a (...)`.
fn cycles(level: &Level) -> Vec<String> {
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in level.edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = level
        .edges
        .keys()
        .map(|node| (node, reaches(node)))
        .collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (node, reached) in &reach {
        let group: Vec<String> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|back| back.contains(*node)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let edges: Vec<String> = group
                .iter()
                .flat_map(|from| {
                    level.edges[from]
                        .iter()
                        .filter(|to| group.contains(to))
                        .map(move |to| {
                            let at = level
                                .evidence
                                .get(&(from.clone(), to.clone()))
                                .map_or("", String::as_str);
                            format!("{from} -> {to} ({at})")
                        })
                })
                .collect();
            format!("{{{}}}: {}", group.join(", "), edges.join(", "))
        })
        .collect()
}

fn cycles_in(crate_root: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_root);
    let file = if root.join("lib.rs").exists() {
        root.join("lib.rs")
    } else {
        root.join("main.rs")
    };
    let mut levels = BTreeMap::new();
    read_level(&file, &root, &[], &mut levels);
    if std::env::var_os("IMPORT_GRAPH").is_some() {
        for (name, level) in &levels {
            for (from, to) in &level.edges {
                eprintln!("{crate_root} ({name}): {from} -> {to:?}");
            }
        }
    }
    levels
        .iter()
        .flat_map(|(name, level)| {
            cycles(level)
                .into_iter()
                .map(move |cycle| format!("{crate_root} ({name}): {cycle}"))
        })
        .collect()
}

#[test]
fn the_driver_has_no_import_cycle() {
    let found = cycles_in("src");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_model_has_no_import_cycle() {
    let found = cycles_in("model/src");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_example_kernels_have_no_import_cycle() {
    // The minimal example is one file: nothing to check there.
    let found = cycles_in("examples/qemu-virt/src");
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// The checker finds what it is for: a made-up level with a cycle of three
/// and a pair, and none where edges only go down.
#[test]
fn the_checker_finds_cycles() {
    let level = |edges: &[(&str, &[&str])]| Level {
        evidence: BTreeMap::new(),
        edges: edges
            .iter()
            .map(|(from, to)| (from.to_string(), to.iter().map(|t| t.to_string()).collect()))
            .collect(),
    };
    let looped = level(&[
        ("boot", &["linux"]),
        ("linux", &["pci"]),
        ("pci", &["boot", "irq"]),
        ("irq", &["smp"]),
        ("smp", &["irq"]),
    ]);
    assert_eq!(
        cycles(&looped),
        [
            "{boot, linux, pci}: boot -> linux (), linux -> pci (), pci -> boot ()",
            "{irq, smp}: irq -> smp (), smp -> irq ()",
        ]
    );
    let layered = level(&[("its", &["queue", "registers"]), ("queue", &["registers"])]);
    assert!(cycles(&layered).is_empty());
    assert_eq!(
        paths_after(
            "use crate::{its::Its, lpi};\nlet x = crate::queue::new();",
            "crate::"
        ),
        [vec!["its", "Its"], vec!["lpi"], vec!["queue", "new"]]
    );
}
