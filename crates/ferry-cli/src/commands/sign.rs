//! `ferry keygen` and `ferry sign`: keys, and signatures over modules for
//! workers that run only signed code (`ferry worker --trust KEY.pub`).

use crate::args::{load_module, with_suffix};
use crate::out;
use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_host::{BlobStore, FromSource};
use ferry_protocol::signature::{SecretKey, add_signature};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `ferry keygen`'s arguments.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes beside it, with
    /// `.pub` added.
    key: PathBuf,
}

/// `ferry sign`'s arguments.
#[derive(Args)]
pub struct SignArgs {
    /// A .wasm file, guest source, a closure file, or sha256:…
    /// from the store: what is signed is its module.
    module: String,
    /// The secret key, from `ferry keygen`.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The signature file to add to [default: MODULE.sig, beside MODULE].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Makes a key pair; refuses to overwrite a key.
pub fn keygen(args: KeygenArgs) -> Result<()> {
    let public = with_suffix(&args.key, ".pub");
    for path in [&args.key, &public] {
        if path.exists() {
            bail!(
                "{} exists; keys are not overwritten (remove it first)",
                path.display()
            );
        }
    }
    let (key, document) = SecretKey::generate()?;
    write_secret(&args.key, &hex::encode(document))?;
    std::fs::write(&public, format!("{}\n", key.public_key()))
        .with_context(|| format!("cannot write {}", public.display()))?;
    writeln!(
        out::stdout(),
        "secret key {}\npublic key {} ({})",
        args.key.display(),
        public.display(),
        key.public_key()
    )?;
    Ok(())
}

/// Signs the module's hash and adds the signature to the `.sig` file.
pub fn sign(args: SignArgs, store: &BlobStore) -> Result<()> {
    let module = load_module(&args.module, store, FromSource::Build)?;
    let key = SecretKey::from_file(&args.key)?;
    let out = match args.out {
        Some(out) => out,
        None if Path::new(&args.module).exists() => {
            with_suffix(Path::new(args.module.trim_end_matches('/')), ".sig")
        }
        None => bail!(
            "{} is not a file: name the signature file with --out",
            args.module
        ),
    };
    let signature = key.sign(&module.id());
    add_signature(&out, &signature)?;
    writeln!(out::stdout(), "{signature}\n  added to {}", out.display())?;
    Ok(())
}

/// Writes a secret readable by its owner alone, from the moment it exists.
fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write {}", path.display()))
}
