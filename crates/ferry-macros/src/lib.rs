//! Procedural macros of the ferry guest SDK. Use them through the `ferry`
//! crate: `#[ferry::function]`, `#[ferry::udf]` and `#[ferry::udaf]`.
//!
//! Each macro has its module. What they share: `parse` reads the attribute
//! and the signatures, `column` maps types onto columns, `row_loop` writes
//! the loop over a batch's rows, `export` writes the exports and records,
//! and `handle` the host's typed handles on guests embedded in it.

#![deny(missing_docs)]

mod closure;
mod column;
mod export;
mod function;
mod handle;
mod parse;
mod row_loop;
mod udaf;
mod udf;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use syn::parse::Parse;

use crate::parse::Options;

/// Exports a function to ferry hosts. See the `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, function::expand)
}

/// Exports a row function as a vectorized SQL scalar function. See the
/// `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn udf(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, udf::expand)
}

/// Exports a type's `init`, `update`, `merge` and `finish` (and `retract`,
/// if it has one) as a SQL aggregate function. See the `ferry` crate for the
/// rules.
#[proc_macro_attribute]
pub fn udaf(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, udaf::expand)
}

/// A closure written where it is used, run as a function of the guest the
/// crate's build script embeds. See the `ferry` crate.
#[proc_macro]
pub fn closure(input: TokenStream) -> TokenStream {
    closure::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Embeds the guest the crate's build script built. See the `ferry` crate.
#[proc_macro]
pub fn embed(input: TokenStream) -> TokenStream {
    match input.is_empty() {
        true => handle::embed().into(),
        false => syn::Error::new(
            proc_macro2::Span::call_site(),
            "ferry::embed!() takes nothing",
        )
        .into_compile_error()
        .into(),
    }
}

/// Parses an attribute's options and the item it is on, and expands them;
/// errors become compile errors at their spans.
fn attribute<T: Parse>(
    attr: TokenStream,
    item: TokenStream,
    expand: fn(Options, T) -> syn::Result<TokenStream2>,
) -> TokenStream {
    syn::parse::<Options>(attr)
        .and_then(|options| expand(options, syn::parse::<T>(item)?))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
