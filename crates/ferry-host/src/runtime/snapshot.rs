//! What an instance keeps between calls, taken out and put into another
//! instance of the same module: how an actor's state moves between workers.
//!
//! Between calls a guest's state is its linear memory and its mutable
//! globals. The exported ones are read by name; the one a compiler keeps
//! unexported, the shadow stack pointer, is back at its starting value
//! whenever no call is running, which is when a state is taken, so a fresh
//! instance already has it right. Tables are not taken: a guest that
//! changes its tables at run time cannot be moved.

use super::instance::Instance;
use crate::Error;
use serde::{Deserialize, Serialize};
use wasmtime::{Extern, Mutability, Val};

/// An instance's memory and exported mutable globals, taken between calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    /// The linear memory, all of it.
    #[serde(with = "crate::as_binary")]
    pub memory: Vec<u8>,
    /// Each exported mutable global, by name.
    pub globals: Vec<(String, GlobalValue)>,
}

/// A global's value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum GlobalValue {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, by its bits.
    F32(u32),
    /// An `f64`, by its bits.
    F64(u64),
}

fn unfit(reason: String) -> Error {
    Error::AbiViolation {
        reason: format!("the saved state does not fit this instance: {reason}"),
    }
}

impl Instance {
    /// The instance's state: its memory and exported mutable globals. An
    /// instance left unusable by a trap has none worth taking.
    pub fn state(&mut self) -> Result<InstanceState, Error> {
        if self.poisoned {
            return Err(unfit(
                "the instance trapped; its state cannot be trusted".into(),
            ));
        }
        let memory = self.memory.data(&self.store).to_vec();
        let exports: Vec<_> = self
            .instance
            .exports(&mut self.store)
            .filter_map(|export| {
                let name = export.name().to_owned();
                export.into_global().map(|global| (name, global))
            })
            .collect();
        let mut globals = Vec::new();
        for (name, global) in exports {
            if global.ty(&self.store).mutability() != Mutability::Var {
                continue;
            }
            let value = match global.get(&mut self.store) {
                Val::I32(v) => GlobalValue::I32(v),
                Val::I64(v) => GlobalValue::I64(v),
                Val::F32(v) => GlobalValue::F32(v),
                Val::F64(v) => GlobalValue::F64(v),
                _ => {
                    return Err(unfit(format!(
                        "global `{name}` is of a type a state cannot hold"
                    )));
                }
            };
            globals.push((name, value));
        }
        Ok(InstanceState { memory, globals })
    }

    /// Puts `state`, taken from an instance of the same module, into this
    /// one: its memory grows to the state's size (within the sandbox's
    /// cap) and takes its bytes, and each global its value.
    pub fn set_state(&mut self, state: &InstanceState) -> Result<(), Error> {
        const PAGE: usize = 64 << 10;
        let now = self.memory.data_size(&self.store);
        if state.memory.len() < now || !state.memory.len().is_multiple_of(PAGE) {
            return Err(unfit(format!(
                "its memory is {} bytes, the instance's {now}",
                state.memory.len()
            )));
        }
        let pages = ((state.memory.len() - now) / PAGE) as u64;
        if pages > 0 {
            self.memory
                .grow(&mut self.store, pages)
                .map_err(|e| unfit(format!("its memory cannot grow to the state's size: {e}")))?;
        }
        self.memory
            .data_mut(&mut self.store)
            .copy_from_slice(&state.memory);
        for (name, value) in &state.globals {
            let Some(Extern::Global(global)) = self.instance.get_export(&mut self.store, name)
            else {
                return Err(unfit(format!("the module exports no global `{name}`")));
            };
            let value = match *value {
                GlobalValue::I32(v) => Val::I32(v),
                GlobalValue::I64(v) => Val::I64(v),
                GlobalValue::F32(v) => Val::F32(v),
                GlobalValue::F64(v) => Val::F64(v),
            };
            global
                .set(&mut self.store, value)
                .map_err(|e| unfit(format!("global `{name}`: {e}")))?;
        }
        Ok(())
    }
}
