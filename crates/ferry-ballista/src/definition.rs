//! How a ferry function travels inside a plan: the bytes a codec writes as
//! the function's `fun_definition` (see `docs/cluster.md`).
//!
//! `FERRYFN1` | kind (one byte: 0 scalar, 1 aggregate) | the closure's
//! length (u32, little-endian) | the closure by reference | for an
//! aggregate, its result over no rows as a protobuf `ScalarValue`.
//!
//! The closure names its module and blobs by hash, so a definition is some
//! 150 bytes however large the module, and the scheduler can copy it into
//! every task.

use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion_proto::protobuf;
use ferry_host::{Closure, Encoding};
use prost::Message;

/// The first bytes of every definition; a new layout gets a new number.
const MAGIC: &[u8; 8] = b"FERRYFN1";

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
    /// An aggregate's result over no rows.
    pub empty: Option<ScalarValue>,
}

/// Writes a scalar function's definition.
pub(crate) fn write_scalar(closure: &Closure, buf: &mut Vec<u8>) {
    write_head(Kind::Scalar, closure, buf);
}

/// Writes an aggregate's definition.
pub(crate) fn write_aggregate(
    closure: &Closure,
    empty: &ScalarValue,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let empty = protobuf::ScalarValue::try_from(empty).map_err(|e| {
        DataFusionError::Internal(format!("cannot encode an aggregate's empty result: {e}"))
    })?;
    write_head(Kind::Aggregate, closure, buf);
    empty
        .encode(buf)
        .map_err(|e| DataFusionError::Internal(e.to_string()))
}

fn write_head(kind: Kind, closure: &Closure, buf: &mut Vec<u8>) {
    let closure = closure.to_bytes(Encoding::ByReference);
    buf.extend_from_slice(MAGIC);
    buf.push(kind as u8);
    buf.extend_from_slice(&(closure.len() as u32).to_le_bytes());
    buf.extend_from_slice(&closure);
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
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("it is truncated"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(malformed("the closure is truncated"));
    }
    let (closure, rest) = rest.split_at(len);
    let empty = match kind {
        Kind::Scalar if rest.is_empty() => None,
        Kind::Scalar => return Err(malformed("bytes follow a scalar function's closure")),
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

    #[test]
    fn definitions_read_back_as_written() {
        let closure = closure();
        let mut scalar = Vec::new();
        write_scalar(&closure, &mut scalar);
        let read_back = read(&scalar).unwrap().unwrap();
        assert_eq!(read_back.kind, Kind::Scalar);
        assert_eq!(read_back.closure, closure.to_bytes(Encoding::ByReference));
        assert!(read_back.empty.is_none());
        // By reference: the module's bytes are not in it.
        assert!(scalar.len() < 300, "{} bytes", scalar.len());

        let mut aggregate = Vec::new();
        write_aggregate(&closure, &ScalarValue::Float64(Some(1.5)), &mut aggregate).unwrap();
        let read_back = read(&aggregate).unwrap().unwrap();
        assert_eq!(read_back.kind, Kind::Aggregate);
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
        write_scalar(&closure, &mut scalar);
        let mut aggregate = Vec::new();
        write_aggregate(&closure, &ScalarValue::Float64(Some(1.5)), &mut aggregate).unwrap();
        let outcome =
            ferry_test_support::fuzz::fuzz("ballista definitions", &[scalar, aggregate], |bytes| {
                read(bytes).map(drop)
            });
        assert!(outcome.accepted >= 2, "{outcome:?}");
    }

    #[test]
    fn malformed_definitions_are_one_line_errors() {
        let mut scalar = Vec::new();
        write_scalar(&closure(), &mut scalar);
        let mut unknown_kind = scalar.clone();
        unknown_kind[8] = 7;
        let mut trailing = scalar.clone();
        trailing.push(0);
        for (bytes, says) in [
            (&scalar[..9], "truncated"),
            (&scalar[..20], "the closure is truncated"),
            (&unknown_kind[..], "unknown kind 7"),
            (&trailing[..], "bytes follow"),
        ] {
            let error = read(bytes).unwrap_err().to_string();
            assert!(error.contains(says) && !error.contains('\n'), "{error}");
        }
    }
}
