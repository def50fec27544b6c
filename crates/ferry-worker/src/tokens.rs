//! Who may do what: bearer tokens, each with scopes, from one secret or
//! from a file the worker rereads whenever it changes, so tokens rotate
//! without a restart.
//!
//! A token file has one token a line, then its scopes separated by commas;
//! `#` starts a comment. A token with no scopes has all of them, so a file
//! holding one bare token (what `--token-file` always took) still works:
//!
//! ```text
//! # token                           scopes
//! 5b1e0c9a1f0e4a0d8c3b7e2f6a9d4c1b  run
//! 0f3a6c2e9b8d7a1e4c5f2b3a6d9e8c7f  run,deploy,admin
//! ```

use ferry_protocol::watched::Watched;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Run closures: `run`, `missing`, uploading and downloading blobs.
    Run,
    /// Make endpoints and actors.
    Deploy,
    /// Read the worker's state (`info`).
    Admin,
}

impl Scope {
    const ALL: [Scope; 3] = [Scope::Run, Scope::Deploy, Scope::Admin];

    /// The scope's name in token files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Run => "run",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Scope`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope.
    pub const ALL: Scopes = Scopes(0b111);

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

/// Why tokens could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a token and scopes.
    #[error("line {line} of the token file {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file names no token.
    #[error("the token file {0} holds no token")]
    Empty(PathBuf),
}

/// The tokens a worker accepts. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Tokens(Arc<Source>);

#[derive(Debug)]
enum Source {
    None,
    One(String),
    File(Watched<Vec<(String, Scopes)>, TokenError>),
}

impl Tokens {
    /// One token with every scope.
    pub fn one(token: String) -> Tokens {
        Tokens(Arc::new(Source::One(token)))
    }

    /// No token at all: the protocol's endpoints refuse everyone, and only
    /// deployed functions answer (`ferry serve`).
    pub fn none() -> Tokens {
        Tokens(Arc::new(Source::None))
    }

    /// The tokens in `path`, read now (so a bad file stops the worker from
    /// starting) and again whenever the file changes.
    pub fn from_file(path: &Path) -> Result<Tokens, TokenError> {
        let watched = Watched::new(vec![path.to_owned()], |paths| read(&paths[0]))?;
        Ok(Tokens(Arc::new(Source::File(watched))))
    }

    /// Whether the one token is empty: a mistake (an unset variable, say),
    /// not a wish to refuse everyone, which [`Tokens::none`] says.
    pub fn is_empty(&self) -> bool {
        match &*self.0 {
            Source::One(token) => token.is_empty(),
            Source::None | Source::File(_) => false,
        }
    }

    /// The scopes of `presented`, or `None` if it is no token of ours.
    /// Every token is compared, each in constant time.
    pub fn scopes(&self, presented: &str) -> Option<Scopes> {
        match &*self.0 {
            Source::None => None,
            Source::One(token) => {
                ferry_protocol::token_matches(token, presented).then_some(Scopes::ALL)
            }
            Source::File(watched) => watched
                .get()
                .iter()
                .filter(|(token, _)| ferry_protocol::token_matches(token, presented))
                .fold(None, |found, (_, scopes)| found.or(Some(*scopes))),
        }
    }
}

fn read(path: &Path) -> Result<Vec<(String, Scopes)>, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut tokens = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(token) = words.next() else {
            continue;
        };
        let malformed = |reason: String| TokenError::Malformed {
            path: path.to_owned(),
            line: n + 1,
            reason,
        };
        let scopes = match (words.next(), words.next()) {
            (None, _) => Scopes::ALL,
            (Some(list), None) => parse_scopes(list).map_err(malformed)?,
            (Some(_), Some(_)) => {
                return Err(malformed(
                    "expected a token and its scopes separated by commas, e.g. `TOKEN run,admin`"
                        .into(),
                ));
            }
        };
        tokens.push((token.to_owned(), scopes));
    }
    if tokens.is_empty() {
        return Err(TokenError::Empty(path.to_owned()));
    }
    Ok(tokens)
}

fn parse_scopes(list: &str) -> Result<Scopes, String> {
    list.split(',').try_fold(Scopes::default(), |scopes, name| {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
            .map(|scope| Scopes(scopes.0 | scope.bit()))
            .ok_or_else(|| format!("unknown scope `{name}`; the scopes are run, deploy and admin"))
    })
}
