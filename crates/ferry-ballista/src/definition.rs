//! How a ferry function travels inside a plan: the bytes a codec writes as
//! the function's `fun_definition` (see `docs/cluster.md`).
//!
//! `FERRYFN2` | kind (one byte: 0 scalar, 1 aggregate) | the closure's
//! length (u32, little-endian) | the closure by reference | the
//! signatures' length (u32) | the module's signatures, a line each as in a
//! `.sig` file | for an aggregate, its result over no rows as a protobuf
//! `ScalarValue`.
//!
//! The closure names its module and blobs by hash, so a definition is some
//! 150 bytes however large the module (and some 280 more per signature),
//! and the scheduler can copy it into every task.

use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion_proto::protobuf;
use ferry_host::{Closure, Encoding};
use ferry_protocol::signature::ModuleSignature;
use prost::Message;

/// The first bytes of every definition; a new layout gets a new number.
const MAGIC: &[u8; 8] = b"FERRYFN2";

/// What kind of SQL function a definition makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Scalar = 0,
    Aggregate = 1,
}

/// A definition read back, borrowing the plan's bytes.
#[derive(Debug)]
pub(crate) struct Definition<'a> {
    pub kind: Kind,
    /// The closure, by reference.
    pub closure: &'a [u8],
    /// Signatures of the closure's module, for executors that run only
    /// signed code.
    pub signatures: Vec<ModuleSignature>,
    /// An aggregate's result over no rows.
    pub empty: Option<ScalarValue>,
}

/// Writes a scalar function's definition.
pub(crate) fn write_scalar(closure: &Closure, signatures: &[ModuleSignature], buf: &mut Vec<u8>) {
    write_head(Kind::Scalar, closure, signatures, buf);
}

/// Writes an aggregate's definition.
pub(crate) fn write_aggregate(
    closure: &Closure,
    signatures: &[ModuleSignature],
    empty: &ScalarValue,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let empty = protobuf::ScalarValue::try_from(empty).map_err(|e| {
        DataFusionError::Internal(format!("cannot encode an aggregate's empty result: {e}"))
    })?;
    write_head(Kind::Aggregate, closure, signatures, buf);
    empty
        .encode(buf)
        .map_err(|e| DataFusionError::Internal(e.to_string()))
}

fn write_head(kind: Kind, closure: &Closure, signatures: &[ModuleSignature], buf: &mut Vec<u8>) {
    let closure = closure.to_bytes(Encoding::ByReference);
    let signatures: String = signatures.iter().map(|s| format!("{s}\n")).collect();
    buf.extend_from_slice(MAGIC);
    buf.push(kind as u8);
    for part in [&closure[..], signatures.as_bytes()] {
        buf.extend_from_slice(&(part.len() as u32).to_le_bytes());
        buf.extend_from_slice(part);
    }
}

/// Splits a part written with its length in front off `bytes`.
fn length_prefixed<'a>(bytes: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("it is truncated before {what}"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(format!("it is truncated within {what}"));
    }
    Ok(rest.split_at(len))
}

fn parse_signatures(text: &[u8]) -> Result<Vec<ModuleSignature>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "the signatures are not text".to_owned())?;
    text.lines()
        .map(|line| line.parse().map_err(|e| format!("a signature: {e}")))
        .collect()
}

/// Reads a definition; `None` if the bytes are not one of ferry's (another
/// codec's, or a function sent by name).
pub(crate) fn read(buf: &[u8]) -> Result<Option<Definition<'_>>> {
    let Some(rest) = buf.strip_prefix(MAGIC) else {
        return Ok(None);
    };
    let malformed = |why: &str| {
        DataFusionError::Plan(format!("a ferry function in the plan is malformed: {why}"))
    };
    let (&kind, rest) = rest
        .split_first()
        .ok_or_else(|| malformed("it is truncated"))?;
    let kind = match kind {
        0 => Kind::Scalar,
        1 => Kind::Aggregate,
        other => return Err(malformed(&format!("unknown kind {other}"))),
    };
    let (closure, rest) = length_prefixed(rest, "the closure").map_err(|e| malformed(&e))?;
    let (signatures, rest) = length_prefixed(rest, "the signatures").map_err(|e| malformed(&e))?;
    let signatures = parse_signatures(signatures).map_err(|e| malformed(&e))?;
    let empty = match kind {
        Kind::Scalar if rest.is_empty() => None,
        Kind::Scalar => return Err(malformed("bytes follow a scalar function's signatures")),
        Kind::Aggregate => {
            let proto = protobuf::ScalarValue::decode(rest)
                .map_err(|e| malformed(&format!("its empty result: {e}")))?;
            Some(
                ScalarValue::try_from(&proto)
                    .map_err(|e| malformed(&format!("its empty result: {e}")))?,
            )
        }
    };
    Ok(Some(Definition {
        kind,
        closure,
        signatures,
        empty,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closure() -> Closure {
        let module = &ferry_test_support::udfs().module;
        Closure::new(module, "geo_mean")
            .unwrap()
            .with_env(&2.5)
            .unwrap()
    }

    fn signature(closure: &Closure) -> ModuleSignature {
        let (key, _) = ferry_protocol::signature::SecretKey::generate().unwrap();
        key.sign(&closure.module().id())
    }

    #[test]
    fn definitions_read_back_as_written() {
        let closure = closure();
        let mut scalar = Vec::new();
        write_scalar(&closure, &[], &mut scalar);
        let read_back = read(&scalar).unwrap().unwrap();
        assert_eq!(read_back.kind, Kind::Scalar);
        assert_eq!(read_back.closure, closure.to_bytes(Encoding::ByReference));
        assert!(read_back.signatures.is_empty());
        assert!(read_back.empty.is_none());
        // By reference: the module's bytes are not in it.
        assert!(scalar.len() < 300, "{} bytes", scalar.len());

        let signatures = [signature(&closure), signature(&closure)];
        let mut aggregate = Vec::new();
        write_aggregate(
            &closure,
            &signatures,
            &ScalarValue::Float64(Some(1.5)),
            &mut aggregate,
        )
        .unwrap();
        let read_back = read(&aggregate).unwrap().unwrap();
        assert_eq!(read_back.kind, Kind::Aggregate);
        assert_eq!(read_back.signatures, signatures);
        assert_eq!(read_back.empty, Some(ScalarValue::Float64(Some(1.5))));
    }

    #[test]
    fn other_codecs_bytes_are_not_ferrys() {
        assert!(read(b"").unwrap().is_none());
        assert!(read(b"FERRYFN0\0").unwrap().is_none());
    }

    #[test]
    fn fuzzed_definitions_never_panic_and_fail_in_one_line() {
        let closure = closure();
        let mut scalar = Vec::new();
        write_scalar(&closure, &[signature(&closure)], &mut scalar);
        let mut aggregate = Vec::new();
        write_aggregate(
            &closure,
            &[],
            &ScalarValue::Float64(Some(1.5)),
            &mut aggregate,
        )
        .unwrap();
        let outcome =
            ferry_test_support::fuzz::fuzz("ballista definitions", &[scalar, aggregate], |bytes| {
                read(bytes).map(drop)
            });
        assert!(outcome.accepted >= 2, "{outcome:?}");
    }

    #[test]
    fn malformed_definitions_are_one_line_errors() {
        let closure = closure();
        let mut scalar = Vec::new();
        write_scalar(&closure, &[signature(&closure)], &mut scalar);
        let mut unknown_kind = scalar.clone();
        unknown_kind[8] = 7;
        let mut trailing = scalar.clone();
        trailing.push(0);
        let mut bad_signature = scalar.clone();
        let last = bad_signature.len() - 2;
        bad_signature[last] = b'x';
        let closure_end = 13 + closure.to_bytes(Encoding::ByReference).len();
        for (bytes, says) in [
            (&scalar[..9], "truncated before the closure"),
            (&scalar[..20], "truncated within the closure"),
            (
                &scalar[..closure_end + 2],
                "truncated before the signatures",
            ),
            (
                &scalar[..closure_end + 30],
                "truncated within the signatures",
            ),
            (
                &bad_signature[..],
                "a signature: the signature is not 128 hex digits",
            ),
            (&unknown_kind[..], "unknown kind 7"),
            (&trailing[..], "bytes follow"),
        ] {
            let error = read(bytes).unwrap_err().to_string();
            assert!(error.contains(says) && !error.contains('\n'), "{error}");
        }
    }
}
