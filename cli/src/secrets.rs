//! Reading the password and the message without exposing them.
//!
//! The password comes from an interactive prompt, an environment variable or
//! a file — never a bare argument, which other users can see in `ps`.

use crate::args::{PasswordArgs, UsageError};
use anyhow::{bail, Context, Result};
use std::io::{IsTerminal, Read};
use std::path::Path;
use zeroize::Zeroizing;

/// Reads the password. `confirm` asks twice at a prompt (when embedding).
pub fn password(args: &PasswordArgs, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
    let pw = if let Some(var) = &args.password_env {
        let v = std::env::var_os(var).ok_or_else(|| {
            UsageError(format!(
                "the environment variable {var} named by --password-env is not set"
            ))
        })?;
        Zeroizing::new(v.into_encoded_bytes())
    } else if let Some(file) = &args.password_file {
        let raw = Zeroizing::new(
            std::fs::read(file)
                .with_context(|| format!("cannot read the password file {}", file.display()))?,
        );
        let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Zeroizing::new(line.to_vec())
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let first =
            Zeroizing::new(rpassword::prompt_password("Password: ").context("cannot read the password")?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?);
            if *first != *again {
                bail!("the passwords do not match");
            }
        }
        Zeroizing::new(first.as_bytes().to_vec())
    } else {
        return Err(UsageError(
            "no password: give --password-env VAR or --password-file FILE (or run in a terminal to be prompted)"
                .into(),
        )
        .into());
    };
    if pw.is_empty() {
        return Err(UsageError("the password is empty".into()).into());
    }
    Ok(pw)
}

/// Reads the message from `--message`, `--message-file` or `-` (stdin).
pub fn message(text: Option<&str>, file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>> {
    match (text, file) {
        (Some(t), _) => Ok(Zeroizing::new(t.as_bytes().to_vec())),
        (None, Some(p)) if p == Path::new("-") => {
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the message from standard input")?;
            Ok(buf)
        }
        (None, Some(p)) => {
            Ok(Zeroizing::new(std::fs::read(p).with_context(|| {
                format!("cannot read the message file {}", p.display())
            })?))
        }
        (None, None) => Err(UsageError(
            "no message: give --message TEXT, --message-file FILE, or --message-file - for stdin".into(),
        )
        .into()),
    }
}
