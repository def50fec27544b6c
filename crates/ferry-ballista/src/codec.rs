//! The codec that carries ferry functions in Ballista's plans.

use crate::Error;
use crate::definition::{self, Definition, Kind};
use crate::peer::{Fetching, Peer};
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use ferry_host::{BlobStore, Closure, ContentHash};
use ferry_protocol::signature::{ModuleSignature, TrustedKeys};
use ferry_protocol::tls::ClientTls;
use ferry_sql::WasmFunctions;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Ballista's logical and physical codecs, with ferry's functions carried
/// as closures by reference: module hash, function, environment, blob
/// hashes, never the module's bytes and never the name alone. Everything
/// else goes to Ballista's own codecs.
///
/// One codec is made for each role, and installed as both the logical and
/// the physical codec of that process:
/// - [`client`](FerryCodec::client): encodes, and first uploads the code
///   the scheduler lacks;
/// - [`scheduler`](FerryCodec::scheduler): decodes from its own store,
///   where clients uploaded the code, and encodes each task's plan;
/// - [`executor`](FerryCodec::executor): decodes, fetching from the
///   scheduler what its store lacks and checking it against its hash.
///
/// A decoded function is kept, per name and closure, so that every task
/// of a process shares one compiled module and one pool of instances. The
/// sandbox is the decoding process's own: nothing in a plan widens it.
///
/// Signatures made by `ferry sign` travel in the plan beside each function
/// ([`with_signatures`](FerryCodec::with_signatures)); an executor's codec
/// made [`with_trust`](FerryCodec::with_trust) makes only functions whose
/// module one of its keys signed, and refuses the others before compiling
/// them.
///
/// ```no_run
/// use ferry_ballista::FerryCodec;
/// use ferry_host::{BlobStore, Runtime, RuntimeConfig};
/// use ferry_sql::WasmFunctions;
/// use std::sync::Arc;
///
/// # fn demo() -> Result<(), ferry_ballista::Error> {
/// let store = BlobStore::open("/tmp/ferry-executor")?;
/// let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store))?);
/// let codec = Arc::new(FerryCodec::executor(functions, "127.0.0.1:50050", "s3cret", None)?);
/// // ExecutorProcessConfig { override_logical_codec: Some(codec.clone()),
/// //                         override_physical_codec: Some(codec), .. }
/// # Ok(()) }
/// ```
pub struct FerryCodec {
    logical: BallistaLogicalExtensionCodec,
    physical: BallistaPhysicalExtensionCodec,
    functions: WasmFunctions,
    store: BlobStore,
    /// Where encoded functions' code is uploaded first (a client).
    uploads_to: Option<Peer>,
    /// Where code the store lacks is fetched from (an executor).
    fetches_from: Option<Peer>,
    /// Signatures sent with the functions of the modules they sign: the
    /// client's own, and those that came in decoded plans, so that a
    /// scheduler passes them on to the executors.
    signatures: Mutex<HashMap<ContentHash, Vec<ModuleSignature>>>,
    /// With these keys, only functions of modules signed by one are made.
    trust: Option<TrustedKeys>,
    scalars: Made<ScalarUDF>,
    aggregates: Made<AggregateUDF>,
}

/// Signatures kept for one module, the first ones learnt.
const MAX_SIGNATURES: usize = 8;

/// Functions made from plans, by SQL name and closure (by reference).
type Made<T> = Mutex<HashMap<(String, Vec<u8>), Arc<T>>>;

impl FerryCodec {
    /// A client's codec: before a function goes into a plan, its module and
    /// blobs are uploaded to the scheduler at `scheduler` (`host:port`)
    /// unless it has them; over TLS with `tls`. It fails at once, saying
    /// why, if the scheduler cannot be reached or refuses the token.
    pub fn client(
        functions: WasmFunctions,
        scheduler: &str,
        token: &str,
        tls: Option<&ClientTls>,
    ) -> Result<FerryCodec, Error> {
        let peer = Peer::new(scheduler, token, tls)?;
        peer.check().map_err(|source| Error::Scheduler {
            address: scheduler.to_owned(),
            hint: tls.is_none()
                && matches!(
                    ferry_remote::RemoteError::of(&source),
                    Some(ferry_remote::RemoteError::Transport { .. })
                ),
            source,
        })?;
        FerryCodec::new(functions, Some(peer), None)
    }

    /// A scheduler's codec: functions are made from code in the functions'
    /// store, where clients upload it.
    pub fn scheduler(functions: WasmFunctions) -> Result<FerryCodec, Error> {
        FerryCodec::new(functions, None, None)
    }

    /// An executor's codec: code the functions' store lacks is fetched from
    /// the scheduler at `scheduler` (`host:port`, over TLS with `tls`),
    /// checked, and kept.
    pub fn executor(
        functions: WasmFunctions,
        scheduler: &str,
        token: &str,
        tls: Option<&ClientTls>,
    ) -> Result<FerryCodec, Error> {
        let peer = Peer::new(scheduler, token, tls)?;
        FerryCodec::new(functions, None, Some(peer))
    }

    fn new(
        functions: WasmFunctions,
        uploads_to: Option<Peer>,
        fetches_from: Option<Peer>,
    ) -> Result<FerryCodec, Error> {
        let store = functions.store().cloned().ok_or(Error::NoStore)?;
        Ok(FerryCodec {
            logical: BallistaLogicalExtensionCodec::default(),
            physical: BallistaPhysicalExtensionCodec::default(),
            functions,
            store,
            uploads_to,
            fetches_from,
            signatures: Mutex::default(),
            trust: None,
            scalars: Mutex::default(),
            aggregates: Mutex::default(),
        })
    }

    /// Sends `signatures` in plans, each with the functions of the module it
    /// signs.
    pub fn with_signatures(
        self,
        signatures: impl IntoIterator<Item = ModuleSignature>,
    ) -> FerryCodec {
        self.learn(signatures);
        self
    }

    fn learn(&self, signatures: impl IntoIterator<Item = ModuleSignature>) {
        let mut known = self.signatures.lock();
        for signature in signatures {
            let of_module = known.entry(signature.module).or_default();
            // A plan could carry any number; a module needs few, and each
            // rides in every task's plan.
            if of_module.len() < MAX_SIGNATURES && !of_module.contains(&signature) {
                of_module.push(signature);
            }
        }
    }

    /// Makes only functions whose module is signed, in the plan, by one of
    /// `keys`; others are refused before they are compiled.
    pub fn with_trust(mut self, keys: TrustedKeys) -> FerryCodec {
        self.trust = Some(keys);
        self
    }

    fn signatures_of(&self, closure: &Closure) -> Vec<ModuleSignature> {
        let known = self.signatures.lock();
        known
            .get(&closure.module().id())
            .cloned()
            .unwrap_or_default()
    }

    /// Uploads the closure's code if this is a client's codec.
    fn ship(&self, closure: &Closure) -> Result<()> {
        match &self.uploads_to {
            Some(peer) => peer.upload(closure).map_err(|e| {
                tracing::error!(scheduler = peer.address(), error = %e, "cannot upload a function's code");
                external(e)
            }),
            None => Ok(()),
        }
    }

    fn encode_scalar(&self, udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        let Some(closure) = ferry_sql::scalar_closure(udf) else {
            return Ok(());
        };
        self.ship(closure)?;
        definition::write_scalar(closure, &self.signatures_of(closure), buf);
        Ok(())
    }

    fn encode_aggregate(&self, udaf: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        let Some((closure, empty)) = ferry_sql::aggregate_closure(udaf) else {
            return Ok(());
        };
        self.ship(closure)?;
        definition::write_aggregate(closure, &self.signatures_of(closure), empty, buf)
    }

    /// The ferry function `buf` defines, made once per name and closure.
    fn decode<T>(
        &self,
        name: &str,
        buf: &[u8],
        kind: Kind,
        made: &Made<T>,
        make: impl FnOnce(
            Closure,
            Option<datafusion::common::ScalarValue>,
        ) -> Result<T, ferry_sql::Error>,
    ) -> Result<Option<Arc<T>>> {
        let Some(Definition {
            kind: found,
            closure,
            signatures,
            empty,
        }) = definition::read(buf)?
        else {
            return Ok(None);
        };
        if found != kind {
            return Err(DataFusionError::Plan(format!(
                "`{name}` is sent as a {found:?} function where a {kind:?} one is expected"
            )));
        }
        self.learn(signatures.iter().cloned());
        let key = (name.to_owned(), closure.to_vec());
        if let Some(function) = made.lock().get(&key) {
            return Ok(Some(function.clone()));
        }
        let resolver = Fetching {
            store: &self.store,
            peer: self.fetches_from.as_ref(),
        };
        let closure = Closure::from_bytes_with(closure, Some(&resolver)).map_err(|e| {
            external(ferry_host::Error::Engine(format!(
                "cannot make function `{name}`: {e}"
            )))
        })?;
        let module = closure.module().id();
        if let Some(trust) = &self.trust
            && !trust.admits(&module, &signatures)
        {
            // Ballista reports a task's error with `{:?}`: only a message
            // in a string reads well to the user at the other end.
            let refusal = Error::Untrusted {
                function: name.to_owned(),
                module,
            };
            return Err(DataFusionError::Plan(refusal.to_string()));
        }
        tracing::debug!(function = name, closure = %closure.id(), "made a function from a plan");
        let function = Arc::new(make(closure, empty).map_err(external)?);
        Ok(Some(made.lock().entry(key).or_insert(function).clone()))
    }

    fn decode_scalar(&self, name: &str, buf: &[u8]) -> Result<Option<Arc<ScalarUDF>>> {
        self.decode(name, buf, Kind::Scalar, &self.scalars, |closure, _| {
            self.functions.udf(name, closure)
        })
    }

    fn decode_aggregate(&self, name: &str, buf: &[u8]) -> Result<Option<Arc<AggregateUDF>>> {
        self.decode(
            name,
            buf,
            Kind::Aggregate,
            &self.aggregates,
            |closure, empty| {
                let empty = empty.expect("an aggregate's definition has its empty result");
                self.functions.udaf_with_empty(name, closure, empty)
            },
        )
    }
}

fn external(error: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl std::fmt::Debug for FerryCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FerryCodec")
            .field("store", &self.store.root())
            .field("uploads_to", &self.uploads_to.as_ref().map(Peer::address))
            .field(
                "fetches_from",
                &self.fetches_from.as_ref().map(Peer::address),
            )
            .finish()
    }
}

/// The function methods the two codec traits share: ferry's functions
/// here, any other to Ballista's codec in field `$inner`.
macro_rules! functions {
    ($inner:ident) => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            match self.decode_scalar(name, buf)? {
                Some(udf) => Ok(udf),
                None => self.$inner.try_decode_udf(name, buf),
            }
        }

        // DataFusion drops a logical encoder's error and sends the function
        // by name, so the error is also logged where it happens (see `ship`).
        fn try_encode_udf(&self, udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.encode_scalar(udf, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            match self.decode_aggregate(name, buf)? {
                Some(udaf) => Ok(udaf),
                None => self.$inner.try_decode_udaf(name, buf),
            }
        }

        fn try_encode_udaf(&self, udaf: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.encode_aggregate(udaf, buf)
        }
    };
}

// Everything but ferry's functions is Ballista's, including the file-format
// pair: forgetting it would quietly break listing tables.
impl LogicalExtensionCodec for FerryCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.logical.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.logical.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.logical
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.logical.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.logical.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.logical.try_encode_file_format(buf, node)
    }

    functions!(logical);
}

impl PhysicalExtensionCodec for FerryCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.physical.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.physical.try_encode(node, buf, proto_converter)
    }

    functions!(physical);
}
