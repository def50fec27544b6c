//! Objects and ranges read from real stores: files through `file://`, and
//! a real S3 server (SeaweedFS) on loopback.

mod objects;
mod ranges;
