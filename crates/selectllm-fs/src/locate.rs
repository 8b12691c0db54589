//! Where selectllm finds what it reads: the data folder, the user cache folder and encoder
//! folders. One resolution each, used by every command and by the gateway, so a checkpoint
//! trained on one machine finds its encoder on another the same way training did.
//!
//! - data: the explicit setting (`--data`, which the CLI also sets for the whole process with
//!   [`set_data_dir`], so the encoder lookup looks beside it), else `$SELECTLLM_DATA`, else `../shared/data`
//!   (or `../../shared/data`, `../../../shared/data`) from the working directory when it
//!   exists, else `<cache>/data` (what `selectllm data pull` fills);
//! - cache: `$SELECTLLM_CACHE`, else `$XDG_CACHE_HOME/selectllm`, else `~/.cache/selectllm`;
//! - an encoder named `<name>`: the explicit setting (`--encoder`, a gateway's
//!   `router.encoder`), else `$SELECTLLM_ENCODER`, else a folder recorded by an older
//!   checkpoint when it still exists, else `models/<name>` beside the data folder, else
//!   `<cache>/models/<name>`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the data folder.
pub const DATA_ENV: &str = "SELECTLLM_DATA";
/// Environment variable naming the user cache folder.
pub const CACHE_ENV: &str = "SELECTLLM_CACHE";
/// Environment variable naming the encoder folder.
pub const ENCODER_ENV: &str = "SELECTLLM_ENCODER";
/// The default encoder's name: its folder name under `models/`.
pub const DEFAULT_ENCODER: &str = "all-MiniLM-L6-v2";

/// A folder that could not be found, with every place looked at and how to say where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LocateError(pub String);

/// Where a found folder comes from (for messages: "encoder folder X (from $SELECTLLM_ENCODER)").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The caller's explicit setting (`--encoder`, `router.encoder`, a library option).
    Given,
    /// The environment variable.
    Env,
    /// The folder an older checkpoint recorded.
    Recorded,
    /// `models/<name>` beside the data folder.
    BesideData,
    /// `<cache>/models/<name>`.
    Cache,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Given => "as given",
            Origin::Env => "from $SELECTLLM_ENCODER",
            Origin::Recorded => "recorded by the checkpoint",
            Origin::BesideData => "beside the data folder",
            Origin::Cache => "in the user cache folder",
        })
    }
}

/// A folder found, and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub dir: PathBuf,
    pub origin: Origin,
}

/// What the resolution reads from the process: environment variables and the folder the
/// relative defaults start from. Tests pass their own.
pub(crate) struct Env<'a> {
    pub var: &'a dyn Fn(&str) -> Option<OsString>,
    /// Prefix of the relative candidates (empty: the working directory, paths stay relative).
    pub cwd: &'a Path,
    /// The process's data folder setting ([`set_data_dir`]).
    pub data: Option<&'a Path>,
}

/// The data folder the process was told to use (`--data`), for lookups with no explicit one.
static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Makes `dir` the data folder of every later lookup that is given none, as `--data` says
/// for the whole command (the encoder lookup then also looks in `models/` beside it). The
/// first call wins.
pub fn set_data_dir(dir: &Path) {
    let _ = DATA_DIR.set(dir.to_path_buf());
}

fn process_env() -> Env<'static> {
    Env {
        var: &|k| std::env::var_os(k),
        cwd: Path::new(""),
        data: DATA_DIR.get().map(PathBuf::as_path),
    }
}

/// The user cache folder: `$SELECTLLM_CACHE`, else `$XDG_CACHE_HOME/selectllm`, else
/// `~/.cache/selectllm` (else `.selectllm-cache` when there is no home).
pub fn cache_dir() -> PathBuf {
    cache_dir_in(&process_env())
}

pub(crate) fn cache_dir_in(env: &Env<'_>) -> PathBuf {
    if let Some(p) = (env.var)(CACHE_ENV) {
        return PathBuf::from(p);
    }
    if let Some(p) = (env.var)("XDG_CACHE_HOME") {
        return PathBuf::from(p).join("selectllm");
    }
    if let Some(h) = (env.var)("HOME") {
        return PathBuf::from(h).join(".cache").join("selectllm");
    }
    PathBuf::from(".selectllm-cache")
}

/// The data folder: `explicit` (`--data`), else `$SELECTLLM_DATA`, else `../shared/data` (or
/// one or two levels further up) from the working directory, else `<cache>/data`.
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf, LocateError> {
    data_dir_in(explicit, &process_env())
}

pub(crate) fn data_dir_in(explicit: Option<&Path>, env: &Env<'_>) -> Result<PathBuf, LocateError> {
    if let Some(p) = explicit.or(env.data) {
        return existing_dir(p, "--data");
    }
    if let Some(p) = (env.var)(DATA_ENV) {
        return existing_dir(Path::new(&p), DATA_ENV);
    }
    for cand in [
        "../shared/data",
        "../../shared/data",
        "../../../shared/data",
    ] {
        let p = env.cwd.join(cand);
        if p.join("README.md").is_file() || p.join("routerdc").is_dir() {
            return Ok(p);
        }
    }
    let cache = cache_dir_in(env).join("data");
    if cache.is_dir() {
        return Ok(cache);
    }
    Err(LocateError(format!(
        "no data folder: pass --data DIR, set {DATA_ENV}, or run `selectllm data pull` to download the public data into {}",
        cache.display()
    )))
}

fn existing_dir(p: &Path, from: &str) -> Result<PathBuf, LocateError> {
    if p.is_dir() {
        Ok(p.to_path_buf())
    } else {
        Err(LocateError(format!(
            "data folder {} (from {from}) does not exist",
            p.display()
        )))
    }
}

/// The folder of the encoder named `name` (a folder name such as [`DEFAULT_ENCODER`]):
/// `explicit`, else `$SELECTLLM_ENCODER` (both taken as they are: loading says when they are
/// not encoder folders), else `recorded` (an older checkpoint's absolute path) when it holds a
/// `config.json`, else `models/<name>` beside the data folder, else `<cache>/models/<name>`,
/// whichever holds a `config.json`. The error lists the places looked at.
pub fn encoder_dir(
    explicit: Option<&Path>,
    name: &str,
    recorded: Option<&Path>,
) -> Result<Located, LocateError> {
    encoder_dir_in(explicit, name, recorded, &process_env())
}

pub(crate) fn encoder_dir_in(
    explicit: Option<&Path>,
    name: &str,
    recorded: Option<&Path>,
    env: &Env<'_>,
) -> Result<Located, LocateError> {
    let found = |dir: PathBuf, origin| Ok(Located { dir, origin });
    if let Some(p) = explicit {
        return found(p.to_path_buf(), Origin::Given);
    }
    if let Some(p) = (env.var)(ENCODER_ENV).filter(|p| !p.is_empty()) {
        return found(PathBuf::from(p), Origin::Env);
    }
    check_name(name)?;
    let beside_data = data_dir_in(None, env)
        .ok()
        .and_then(|d| d.parent().map(|p| p.join("models").join(name)));
    let beside_data_missing = beside_data.is_none();
    let candidates = [
        recorded.map(|p| (p.to_path_buf(), Origin::Recorded)),
        beside_data.map(|p| (p, Origin::BesideData)),
        Some((cache_dir_in(env).join("models").join(name), Origin::Cache)),
    ];
    let mut looked = Vec::new();
    for (dir, origin) in candidates.into_iter().flatten() {
        if dir.join("config.json").is_file() {
            return found(dir, origin);
        }
        looked.push(format!("{} ({origin})", dir.display()));
    }
    if beside_data_missing {
        looked.push(format!(
            "nothing beside the data folder (no data folder found: --data, {DATA_ENV}, ../shared/data)"
        ));
    }
    Err(LocateError(format!(
        "encoder {name} not found: looked in {}; pass --encoder DIR (router.encoder in a gateway file) or set {ENCODER_ENV} to a folder with config.json, tokenizer.json and model.safetensors",
        looked.join(", ")
    )))
}

/// An encoder name is one folder name: no separators, not `.` or `..`.
fn check_name(name: &str) -> Result<(), LocateError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.contains('\0');
    if ok {
        Ok(())
    } else {
        Err(LocateError(format!(
            "encoder name {name:?} is not a folder name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_env<T>(cwd: &Path, vars: &[(&str, &Path)], f: impl FnOnce(&Env<'_>) -> T) -> T {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        let var = move |k: &str| vars.get(k).cloned();
        f(&Env {
            var: &var,
            cwd,
            data: None,
        })
    }

    #[test]
    fn the_data_setting_also_places_the_encoder() {
        // run from a folder with no ../shared: only the --data setting leads to the models
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let cwd = root.join("elsewhere/deep");
        std::fs::create_dir_all(&cwd).expect("mkdir");
        std::fs::create_dir_all(root.join("pub/data")).expect("mkdir");
        encoder_folder(&root.join("pub/models/mini"));
        let vars = [(CACHE_ENV, root.join("cache"))];
        let vars: Vec<(&str, &Path)> = vars.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let data = root.join("pub/data");
        let var_of = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_os_str().to_owned())
        };
        let without = Env {
            var: &var_of,
            cwd: &cwd,
            data: None,
        };
        assert!(encoder_dir_in(None, "mini", None, &without).is_err());
        let with = Env {
            var: &var_of,
            cwd: &cwd,
            data: Some(&data),
        };
        assert_eq!(data_dir_in(None, &with).expect("data"), data);
        let l = encoder_dir_in(None, "mini", None, &with).expect("beside --data");
        assert_eq!(
            (l.dir, l.origin),
            (root.join("pub/models/mini"), Origin::BesideData)
        );
    }

    fn encoder_folder(dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("config.json"), "{}").expect("write");
    }

    #[test]
    fn the_encoder_is_found_in_order_and_the_error_lists_the_places() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let cwd = root.join("repo");
        let cache = root.join("cache");
        std::fs::create_dir_all(root.join("shared/data/routerdc")).expect("mkdir");
        std::fs::create_dir_all(&cwd).expect("mkdir");
        let vars = [(CACHE_ENV, cache.as_path())];
        let find = |recorded: Option<&Path>| {
            with_env(&cwd, &vars, |env| {
                encoder_dir_in(None, "mini", recorded, env)
            })
        };

        let e = find(None).expect_err("nothing there").to_string();
        assert!(
            e.contains("encoder mini not found")
                && e.contains("shared/models/mini (beside the data folder)")
                && e.contains(&format!(
                    "{} (in the user cache folder)",
                    cache.join("models/mini").display()
                ))
                && e.contains("--encoder")
                && e.contains(ENCODER_ENV),
            "{e}"
        );

        encoder_folder(&cache.join("models/mini"));
        let l = find(None).expect("in the cache");
        assert_eq!(
            (l.dir, l.origin),
            (cache.join("models/mini"), Origin::Cache)
        );

        encoder_folder(&root.join("shared/models/mini"));
        let l = find(None).expect("beside the data");
        assert_eq!(l.origin, Origin::BesideData);
        assert_eq!(l.dir, cwd.join("../shared/models/mini"));

        let old = root.join("old");
        let l = find(Some(&old)).expect("a recorded folder that is gone is skipped");
        assert_eq!(l.origin, Origin::BesideData);
        encoder_folder(&old);
        assert_eq!(find(Some(&old)).expect("recorded").origin, Origin::Recorded);

        let env_dir = root.join("from-env");
        let vars = [(CACHE_ENV, cache.as_path()), (ENCODER_ENV, &env_dir)];
        let l = with_env(&cwd, &vars, |env| {
            encoder_dir_in(None, "mini", Some(&old), env)
        })
        .expect("env");
        assert_eq!((l.dir, l.origin), (env_dir.clone(), Origin::Env));
        let l = with_env(&cwd, &vars, |env| {
            encoder_dir_in(Some(Path::new("given")), "mini", None, env)
        })
        .expect("given");
        assert_eq!((l.dir, l.origin), (PathBuf::from("given"), Origin::Given));
    }

    #[test]
    fn bad_encoder_names_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        for name in ["", "..", "a/b", "../../etc"] {
            let e = with_env(tmp.path(), &[], |env| encoder_dir_in(None, name, None, env))
                .expect_err("bad name")
                .to_string();
            assert!(e.contains("is not a folder name"), "{name}: {e}");
        }
    }

    #[test]
    fn data_and_cache_folders() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let home = root.join("home");
        // every relative candidate (up to ../../../shared/data) stays inside the temporary folder
        let cwd = root.join("a/b/c");
        let e = with_env(&cwd, &[("HOME", &home)], |env| data_dir_in(None, env))
            .expect_err("no data")
            .to_string();
        assert!(
            e.contains(DATA_ENV)
                && e.contains(&home.join(".cache/selectllm/data").display().to_string()),
            "{e}"
        );
        let e = with_env(&cwd, &[("HOME", &home)], |env| {
            encoder_dir_in(None, DEFAULT_ENCODER, None, env)
        })
        .expect_err("no encoder")
        .to_string();
        assert!(
            e.contains("(no data folder found: --data, SELECTLLM_DATA"),
            "{e}"
        );
        std::fs::create_dir_all(home.join(".cache/selectllm/data")).expect("mkdir");
        let d = with_env(&cwd, &[("HOME", &home)], |env| data_dir_in(None, env)).expect("pulled");
        assert_eq!(d, home.join(".cache/selectllm/data"));
        let missing = root.join("nope");
        let e = with_env(&cwd, &[(DATA_ENV, &missing)], |env| data_dir_in(None, env))
            .expect_err("missing")
            .to_string();
        assert!(e.contains("nope") && e.contains(DATA_ENV), "{e}");
        let e = data_dir(Some(&missing)).expect_err("missing").to_string();
        assert!(e.contains("nope") && e.contains("--data"), "{e}");
        let xdg = root.join("xdg");
        let c = with_env(
            &cwd,
            &[("HOME", &home), ("XDG_CACHE_HOME", &xdg)],
            cache_dir_in,
        );
        assert_eq!(c, xdg.join("selectllm"));
    }
}
