//! The codebase's layering rules, checked on the source: no module of any crate refers to a
//! sibling module that refers back to it (directly or round a longer circle), and no source
//! file grows past the size the project keeps files under.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a source file may have (the project keeps files under ~500 lines).
const MAX_LINES: usize = 500;

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/`: `lib.rs` -> [], `a.rs` / `a/mod.rs` -> [a],
/// `a/b.rs` -> [a, b].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Paths a file names through `crate::` or `super::`, resolved to absolute module paths
/// (the longest prefix that is a module).
fn references(text: &str, here: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect()
    };
    let mut add = |mut path: Vec<String>| {
        while !path.is_empty() && !modules.contains(&path) {
            path.pop();
        }
        out.push(path);
    };
    for (i, _) in code.match_indices("crate::") {
        let boundary = i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if boundary {
            add(ident(&code[i + "crate::".len()..]));
        }
    }
    let inline = inline_modules(&code);
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("super::") {
            continue; // counted from the first `super::` of a chain
        }
        let boundary = i == 0 || !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if !boundary {
            continue;
        }
        let mut rest = &code[i..];
        // `super::` inside an inline `mod tests { .. }` starts from that inner module
        let mut base: Vec<String> = here.to_vec();
        base.extend(
            inline
                .iter()
                .filter(|(_, span)| span.contains(&i))
                .map(|(name, _)| name.clone()),
        );
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        base.extend(ident(rest));
        add(base);
    }
    out
}

/// Inline modules (`mod name { .. }`) of a file's code with the byte range of their bodies,
/// outermost first (braces matched; good enough for this codebase's source).
fn inline_modules(code: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("mod ") {
        if i > 0 && !code[..i].ends_with(|c: char| c.is_whitespace() || c == ')') {
            continue;
        }
        let after = &code[i + 4..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let rest = after[name.len()..].trim_start();
        if name.is_empty() || !rest.starts_with('{') {
            continue;
        }
        let open = code.len() - rest.len();
        let mut depth = 0usize;
        for (j, c) in code[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((name.clone(), open..open + j));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The circles among the children of one module: each group of modules that all reach one
/// another (sorted names), for groups of two or more.
fn find_circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|n| (n, reach(n))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for (n, r) in &reaches {
        let group: Vec<String> = r
            .iter()
            .filter(|m| reaches.get(m).is_some_and(|rm| rm.contains(*n)))
            .cloned()
            .collect();
        if group.len() >= 2 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn no_module_refers_to_a_sibling_that_refers_back() {
    let mut circles = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(crates_dir())
        .expect("crates/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    crates.sort();
    assert!(
        crates.len() >= 5,
        "found the workspace's crates: {crates:?}"
    );
    for krate in crates {
        let src = krate.join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        // sibling edges: for each parent, child -> child when anything inside the first
        // names anything inside the second
        let mut by_parent: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> =
            BTreeMap::new();
        for f in &files {
            let here = module_of(&src, f);
            let text = std::fs::read_to_string(f).expect("readable source");
            for target in references(&text, &here, &modules) {
                let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
                if common < here.len() && common < target.len() {
                    by_parent
                        .entry(here[..common].to_vec())
                        .or_default()
                        .entry(here[common].clone())
                        .or_default()
                        .insert(target[common].clone());
                }
            }
        }
        for (parent, edges) in &by_parent {
            for c in find_circles(edges) {
                circles.push(format!(
                    "{}: in `{}`: {}",
                    krate.file_name().unwrap_or_default().to_string_lossy(),
                    if parent.is_empty() {
                        "crate".to_string()
                    } else {
                        parent.join("::")
                    },
                    c.join(" <-> ")
                ));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "module circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn source_files_stay_small() {
    let mut files = Vec::new();
    rust_files(&crates_dir(), &mut files);
    let big: Vec<String> = files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "target"))
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(big.is_empty(), "files over {MAX_LINES} lines: {big:?}");
}

#[test]
fn the_checker_sees_a_circle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("d".into()).or_default().insert("a".into());
    assert!(find_circles(&edges).is_empty());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_circles(&edges),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    let m = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let modules: BTreeSet<Vec<String>> = [
        m(&[]),
        m(&["a"]),
        m(&["a", "b"]),
        m(&["a", "c"]),
        m(&["x"]),
        m(&["x", "y"]),
    ]
    .into_iter()
    .collect();
    let r = references(
        "use super::c::Thing;\nuse crate::x::y::Other;\n// use crate::a::b;",
        &m(&["a", "b"]),
        &modules,
    );
    assert_eq!(r, vec![m(&["x", "y"]), m(&["a", "c"])]);
    // inside an inline test module `super::` is the file's own module
    let r = references(
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::f;\n    use super::super::c::T;\n}\nuse super::c::U;",
        &m(&["a", "b"]),
        &modules,
    );
    assert_eq!(r, vec![m(&["a", "b"]), m(&["a", "c"]), m(&["a", "c"])]);
}
