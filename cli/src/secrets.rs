//! Reading the password and the message without exposing them.
//!
//! The password comes from an interactive prompt, an environment variable or
//! a file — never a bare argument, which other users can see in `ps`.
//!
//! The message is read only as far as it can fit: an endless standard input
//! or `/dev/zero` ends with an error, not with the memory exhausted.

use crate::args::{InputError, PasswordArgs, UsageError};
use anyhow::{Context, Result};
use miniz_oxide::deflate::core::{compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush};
use std::io::{IsTerminal, Read};
use std::path::Path;
use vidstega_core::MAX_MESSAGE_LEN;
use zeroize::Zeroizing;

/// Said when the message is given with `--message TEXT`.
pub const MESSAGE_FLAG_WARNING: &str =
    "warning: --message puts the message in the process list, where other \
     users of this computer can read it while this runs; --message-file FILE, or --message-file - (standard \
     input), does not";

/// Times the two prompts may disagree before the embed gives up.
const PROMPT_ATTEMPTS: usize = 3;

/// A password, in the form the keys are derived from: Unicode NFC when it
/// is UTF-8 (so `é` typed as one code point or as `e` + accent is the same
/// password), the bytes as given otherwise. Dereferences to that form.
pub struct Password {
    normalized: Zeroizing<Vec<u8>>,
    /// The bytes as given, when normalising changed them: files written
    /// before passwords were normalised were keyed with these.
    as_given: Option<Zeroizing<Vec<u8>>>,
}

impl Password {
    /// Normalises `bytes` (see [`Password`]).
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        use unicode_normalization::UnicodeNormalization;
        let normalized = match std::str::from_utf8(&bytes) {
            Ok(text) => Zeroizing::new(text.nfc().collect::<String>().into_bytes()),
            Err(_) => bytes.clone(),
        };
        let as_given = (*normalized != *bytes).then_some(bytes);
        Password { normalized, as_given }
    }

    /// The forms to try when opening a message: the normalised one, then
    /// the bytes as given if they differ (a file written before passwords
    /// were normalised).
    pub fn forms(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.normalized.as_slice()).chain(self.as_given.as_deref().map(Vec::as_slice))
    }
}

impl std::ops::Deref for Password {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.normalized
    }
}

/// Whether the password comes from `--password-env` or `--password-file`
/// (not a prompt, which waits for the user).
pub fn password_is_given(args: &PasswordArgs) -> bool {
    args.password_env.is_some() || args.password_file.is_some()
}

/// Reads the password, normalised (see [`Password`]). `confirm` asks twice
/// at a prompt (when embedding), and asks again, up to three times, when
/// the two differ.
pub fn password(args: &PasswordArgs, confirm: bool) -> Result<Password> {
    let pw = if let Some(var) = &args.password_env {
        let v = std::env::var_os(var).ok_or_else(|| {
            UsageError(format!(
                "the environment variable {var} named by --password-env is not set"
            ))
        })?;
        Zeroizing::new(v.into_encoded_bytes())
    } else if let Some(file) = &args.password_file {
        let raw = Zeroizing::new(std::fs::read(file).map_err(|e| {
            UsageError(format!(
                "cannot read the password file {} named by --password-file: {}",
                file.display(),
                describe_io(&e)
            ))
        })?);
        let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Zeroizing::new(line.to_vec())
    } else if can_prompt() {
        prompt(confirm)?
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
    Ok(Password::new(pw))
}

/// Whether a person can be asked: there is a terminal to ask on
/// (`/dev/tty`, which the prompt reads, as gpg and sudo do, so standard
/// input may carry the message), and the run is attended (standard input
/// or standard error is that terminal, not both redirected).
fn can_prompt() -> bool {
    let attended = std::io::stdin().is_terminal() || std::io::stderr().is_terminal();
    attended
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
}

/// Asks for the password on the terminal (`/dev/tty`), twice when
/// `confirm`.
fn prompt(confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
    for attempt in 1..=PROMPT_ATTEMPTS {
        let first =
            Zeroizing::new(rpassword::prompt_password("Password: ").context("cannot read the password")?);
        if !confirm {
            return Ok(Zeroizing::new(first.as_bytes().to_vec()));
        }
        let again = Zeroizing::new(
            rpassword::prompt_password("Repeat password: ").context("cannot read the password")?,
        );
        if *first == *again {
            return Ok(Zeroizing::new(first.as_bytes().to_vec()));
        }
        if attempt < PROMPT_ATTEMPTS {
            crate::output::note("the passwords do not match; try again");
        }
    }
    Err(UsageError(format!(
        "the passwords did not match ({PROMPT_ATTEMPTS} attempts); nothing was written"
    ))
    .into())
}

/// An I/O error in words, without the `(os error N)` suffix.
fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a folder, not a file".into(),
        _ => e.to_string(),
    }
}

/// How much message the video can take, found out only for a message
/// longer than [`EAGER_BYTES`] (compact mode reads the video's index and
/// NAL headers for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// The largest message, after compression, that fits.
    pub bytes: u64,
    /// Whether `bytes` is the exact figure (else an upper bound).
    pub exact: bool,
}

/// Messages up to this size are read without asking how much fits: the
/// plan then checks them, as it checks every message.
pub const EAGER_BYTES: u64 = 1 << 20;

/// Where a message may go: returns the room left for it (once, lazily).
pub type RoomFn<'a> = dyn FnMut() -> Result<Room> + 'a;

/// Reads the message from `--message`, `--message-file` or `-` (stdin),
/// stopping with an error once it cannot fit in `room()` even compressed.
pub fn message(text: Option<&str>, file: Option<&Path>, room: &mut RoomFn<'_>) -> Result<Zeroizing<Vec<u8>>> {
    match (text, file) {
        (Some(t), _) => Ok(Zeroizing::new(t.as_bytes().to_vec())),
        (None, Some(p)) if p == Path::new("-") => {
            read_bounded(std::io::stdin().lock(), room).map_err(|e| match e.downcast::<std::io::Error>() {
                Ok(io) => InputError(format!("cannot read the message from standard input: {io}")).into(),
                Err(e) => e,
            })
        }
        (None, Some(p)) => {
            let unreadable = |e: std::io::Error| {
                InputError(format!(
                    "cannot read the message file {}: {}",
                    p.display(),
                    describe_io(&e)
                ))
            };
            if std::fs::metadata(p).is_ok_and(|m| m.is_dir()) {
                return Err(InputError(format!(
                    "cannot read the message file {}: it is a folder, not a file",
                    p.display()
                ))
                .into());
            }
            let file = std::fs::File::open(p).map_err(unreadable)?;
            read_bounded(file, room).map_err(|e| match e.downcast::<std::io::Error>() {
                Ok(io) => unreadable(io).into(),
                Err(e) => e,
            })
        }
        (None, None) => Err(UsageError(
            "no message: give --message TEXT, --message-file FILE, or --message-file - for stdin".into(),
        )
        .into()),
    }
}

/// Reads `src` to its end, or until the message is certain not to fit:
/// longer than the room, and its compressed form (as far as a streaming
/// deflate has produced it) longer too, or longer than the format holds.
fn read_bounded(mut src: impl Read, room: &mut RoomFn<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    (&mut src).take(EAGER_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 <= EAGER_BYTES {
        return Ok(buf);
    }
    let room = room()?;
    // The deflate stream seal() stores may end a little shorter than what
    // a streaming compressor has produced by then: refuse only beyond a margin,
    // and leave the exact check to the plan.
    let margin = (room.bytes / 64).max(1024);
    let mut deflate = Deflated::new();
    let mut fed = 0;
    let mut chunk = Zeroizing::new(vec![0u8; 1 << 16]);
    loop {
        if buf.len() as u64 > MAX_MESSAGE_LEN {
            return Err(InputError(format!(
                "the message is larger than the {MAX_MESSAGE_LEN} bytes the format can hold; reading stopped there"
            ))
            .into());
        }
        if buf.len() as u64 > room.bytes {
            deflate.feed(&buf[fed..]);
            fed = buf.len();
            if deflate.produced > room.bytes + margin {
                return Err(too_large(room, buf.len()).into());
            }
        }
        let n = match src.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The error for a message that cannot fit.
fn too_large(room: Room, read: usize) -> InputError {
    let what = if room.exact {
        format!(
            "the {} bytes that fit in this video with these settings",
            room.bytes
        )
    } else {
        format!(
            "the {} bytes this video could hold at most with these settings",
            room.bytes
        )
    };
    InputError(format!(
        "the message is larger than {what}, even compressed (reading stopped after {read} bytes). \
         `vidstega capacity` shows what fits with other settings; a longer or larger video holds more"
    ))
}

/// A streaming deflate (the level seal() uses) that only counts its output.
struct Deflated {
    compressor: Box<CompressorOxide>,
    out: Vec<u8>,
    produced: u64,
}

impl Deflated {
    fn new() -> Self {
        Deflated {
            compressor: Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(6, 0, 0))),
            out: vec![0; 1 << 16],
            produced: 0,
        }
    }

    fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            let (_, consumed, written) =
                compress(&mut self.compressor, input, &mut self.out, TDEFLFlush::None);
            self.produced += written as u64;
            input = &input[consumed..];
            if consumed == 0 && written == 0 {
                break;
            }
        }
        // What was produced is compressed message: forget it.
        zeroize::Zeroize::zeroize(&mut self.out[..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_normalised_to_nfc_and_the_given_form_is_kept_to_try_second() {
        // "é" as e + combining acute accent, and as one code point.
        let decomposed = Password::new(Zeroizing::new("caf\u{65}\u{301}".as_bytes().to_vec()));
        let composed = Password::new(Zeroizing::new("caf\u{e9}".as_bytes().to_vec()));
        assert_eq!(&*decomposed, "caf\u{e9}".as_bytes());
        assert_eq!(&*decomposed, &*composed);
        let forms: Vec<&[u8]> = decomposed.forms().collect();
        assert_eq!(forms, vec!["caf\u{e9}".as_bytes(), "caf\u{65}\u{301}".as_bytes()]);
        // Already NFC (all ASCII is): one form.
        assert_eq!(composed.forms().count(), 1);
        // Not UTF-8: used as given.
        let bytes = Password::new(Zeroizing::new(vec![0xff, 0xfe, b'x']));
        assert_eq!(&*bytes, &[0xff, 0xfe, b'x']);
        assert_eq!(bytes.forms().count(), 1);
    }
}
