//! Path dependencies seen from inside the guest's workspace.
//!
//! Cargo names a package by its path relative to the workspace root when it
//! lies under that root, and by its absolute path otherwise; the name
//! reaches symbol names and so the layout of the module. The guest's
//! workspace is the crate ferry-build writes, so every path dependency (the
//! SDK in a checkout of ferry, a user's crates beside the host) lies outside
//! it, and two checkouts would build two modules. So each such dependency's
//! own workspace is linked into the guest's directory and the dependency
//! named through the link: its name is then the same in every checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of links, in the guest crate's directory; the guest's
/// workspace excludes it, since the crates there belong to workspaces of
/// their own.
pub(crate) const LINKS_DIR: &str = "paths";

/// The links of one guest crate, one per workspace its path dependencies
/// are in, named for the first dependency declared from it.
pub(crate) struct PathLinks {
    dir: PathBuf,
    links: Vec<(String, PathBuf)>,
}

impl PathLinks {
    /// Links for the guest crate in `guest_dir`. Links already there are
    /// kept while they point where they should (another build, `cargo
    /// check` beside `cargo build`, may be reading through them) and
    /// replaced when not.
    pub(crate) fn new(guest_dir: &Path) -> PathLinks {
        PathLinks {
            dir: guest_dir.join(LINKS_DIR),
            links: Vec::new(),
        }
    }

    /// The path the guest's manifest declares the dependency `name` in
    /// `path` by: through the link to its workspace, relative to the
    /// guest's manifest; its absolute path where no link can be made.
    pub(crate) fn declare(&mut self, name: &str, path: &Path) -> String {
        let absolute = || path.to_string_lossy().into_owned();
        let root = workspace_root(path);
        let Ok(inside) = path.strip_prefix(&root) else {
            return absolute();
        };
        let link = match self.links.iter().find(|(_, r)| *r == root) {
            Some((link, _)) => link.clone(),
            None => {
                if let Err(e) = self.link(name, &root) {
                    // The build still works; only its bytes may then
                    // depend on where the dependency is.
                    println!(
                        "cargo::warning=ferry-build: no link to {} ({e}); the guest's bytes will depend on where it is",
                        root.display()
                    );
                    return absolute();
                }
                self.links.push((name.to_owned(), root.clone()));
                name.to_owned()
            }
        };
        let mut declared = format!("{LINKS_DIR}/{link}");
        for part in inside {
            declared.push('/');
            declared.push_str(&part.to_string_lossy());
        }
        declared
    }

    /// Makes `paths/<name>` point at `root`, unless it does already.
    fn link(&self, name: &str, root: &Path) -> std::io::Result<()> {
        let link = self.dir.join(name);
        if std::fs::read_link(&link).is_ok_and(|target| target == root) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        // Made beside it and renamed over it: a reader sees the old link or
        // the new one, never none.
        let fresh = self.dir.join(format!(".{name}.{}", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        symlink(root, &fresh)?;
        std::fs::rename(&fresh, &link)
    }

    /// `file` where it is, not through a link: what a build script watches.
    pub(crate) fn resolve(&self, file: PathBuf) -> PathBuf {
        for (link, root) in &self.links {
            if let Ok(rest) = file.strip_prefix(self.dir.join(link)) {
                return root.join(rest);
            }
        }
        file
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symbolic links are made only on Unix here",
    ))
}

/// The directory of the workspace the crate in `path` belongs to, as cargo
/// finds it; the crate's own directory if it has none or cargo cannot say
/// (a crate under a workspace that does not list it).
fn workspace_root(path: &Path) -> PathBuf {
    let manifest = path.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let located = Command::new(cargo)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .arg("--offline")
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    located
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .unwrap_or_else(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_is_declared_through_a_link_to_its_workspace() {
        let scratch = tempfile::tempdir().unwrap();
        let workspace = scratch.path().join("sdk");
        for (dir, manifest) in [
            (
                workspace.clone(),
                "[workspace]\nmembers = [\"crates/*\"]\n".to_owned(),
            ),
            (
                workspace.join("crates/a"),
                "[package]\nname = \"a\"\nversion = \"0.1.0\"\n".to_owned(),
            ),
        ] {
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
            std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        }
        let guest = scratch.path().join("guest");
        let mut links = PathLinks::new(&guest);
        let declared = links.declare("a", &workspace.join("crates/a"));
        assert_eq!(declared, "paths/a/crates/a");
        assert!(guest.join(&declared).join("Cargo.toml").is_file());
        assert_eq!(
            links.resolve(guest.join("paths/a/crates/a/src/lib.rs")),
            workspace.join("crates/a/src/lib.rs")
        );
        // Declared again, the same link is kept.
        let before = std::fs::symlink_metadata(guest.join("paths/a")).unwrap();
        let mut links = PathLinks::new(&guest);
        links.declare("a", &workspace.join("crates/a"));
        let after = std::fs::symlink_metadata(guest.join("paths/a")).unwrap();
        assert_eq!(before.modified().unwrap(), after.modified().unwrap());
        assert_eq!(links.resolve(PathBuf::from("/x")), PathBuf::from("/x"));
        // A crate under a workspace that does not list it is its own root.
        let stray = workspace.join("stray");
        std::fs::create_dir_all(stray.join("src")).unwrap();
        std::fs::write(
            stray.join("Cargo.toml"),
            "[package]\nname = \"stray\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        std::fs::write(stray.join("src/lib.rs"), "").unwrap();
        assert_eq!(links.declare("stray", &stray), "paths/stray");
    }
}
