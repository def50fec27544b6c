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

use crate::BuildError;
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
    /// Links for the guest crate in `guest_dir`, made afresh: a workspace
    /// that moved or a dependency that went leaves no link behind.
    pub(crate) fn new(guest_dir: &Path) -> Result<PathLinks, BuildError> {
        let dir = guest_dir.join(LINKS_DIR);
        if dir.exists() {
            // Removes the links, never what they point to.
            std::fs::remove_dir_all(&dir)
                .map_err(|e| BuildError::new(&dir, format!("cannot remove old links: {e}")))?;
        }
        Ok(PathLinks {
            dir,
            links: Vec::new(),
        })
    }

    /// The path the guest's manifest declares the dependency `name` in
    /// `path` by: through the link to its workspace, relative to the
    /// guest's manifest.
    pub(crate) fn declare(&mut self, name: &str, path: &Path) -> Result<String, BuildError> {
        let root = workspace_root(path)?;
        let link = match self.links.iter().find(|(_, r)| *r == root) {
            Some((link, _)) => link.clone(),
            None => {
                let link = self.dir.join(name);
                std::fs::create_dir_all(&self.dir)
                    .map_err(|e| BuildError::new(&self.dir, e.to_string()))?;
                if !symlink(&root, &link) {
                    // No links here: named by its absolute path, as before.
                    return Ok(path.to_string_lossy().into_owned());
                }
                self.links.push((name.to_owned(), root.clone()));
                name.to_owned()
            }
        };
        let mut declared = format!("{LINKS_DIR}/{link}");
        for part in path.strip_prefix(&root).unwrap_or(Path::new("")) {
            declared.push('/');
            declared.push_str(&part.to_string_lossy());
        }
        Ok(declared)
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
fn symlink(target: &Path, link: &Path) -> bool {
    std::os::unix::fs::symlink(target, link).is_ok()
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> bool {
    false
}

/// The directory of the workspace the crate in `path` belongs to (its own
/// directory if none), as cargo finds it.
fn workspace_root(path: &Path) -> Result<PathBuf, BuildError> {
    let manifest = path.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .arg("--offline")
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .map_err(|e| BuildError::new(&manifest, format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(BuildError::new(
            &manifest,
            format!(
                "cargo cannot find its workspace: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    let root_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(root_manifest
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| path.to_owned()))
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
        let mut links = PathLinks::new(&guest).unwrap();
        let declared = links.declare("a", &workspace.join("crates/a")).unwrap();
        assert_eq!(declared, "paths/a/crates/a");
        assert!(guest.join(&declared).join("Cargo.toml").is_file());
        assert_eq!(
            links.resolve(guest.join("paths/a/crates/a/src/lib.rs")),
            workspace.join("crates/a/src/lib.rs")
        );
        // Made afresh, the link is gone until declared again.
        let links = PathLinks::new(&guest).unwrap();
        assert!(!guest.join("paths/a").exists());
        assert_eq!(links.resolve(PathBuf::from("/x")), PathBuf::from("/x"));
    }
}
