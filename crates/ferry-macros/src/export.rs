//! What every macro writes around the user's item: its exports, its record
//! in the `ferry.functions` section, and the arguments passed from an
//! export to the user's code.

use ferry_abi::FunctionRecord;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
use syn::Type;

use crate::parse::Param;

/// The user's item, unchanged, and on WebAssembly its exports and its
/// record in the `ferry.functions` section, which names this SDK.
pub fn emit(
    item: &impl ToTokens,
    mut record: FunctionRecord,
    exports: TokenStream2,
) -> TokenStream2 {
    record.sdk = Some(format!("ferry-rust/{}", env!("CARGO_PKG_VERSION")));
    let record_bytes = record.to_section_line().into_bytes();
    let record_len = record_bytes.len();
    let record_lit = syn::LitByteStr::new(&record_bytes, Span::call_site());
    quote! {
        // Outside WebAssembly there is no export to use the function; it stays
        // an ordinary function for native unit tests.
        #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
        #item

        #[cfg(target_family = "wasm")]
        const _: () = {
            #exports

            #[used]
            #[unsafe(link_section = "ferry.functions")]
            static __FERRY_RECORD: [u8; #record_len] = *#record_lit;
        };
    }
}

/// One batch-convention export, `export_name`, defined as the function
/// `ident`: it binds the environment, if the function takes one, and runs
/// `body` on the call's `__ferry_columns`, to return the output column.
pub fn batch_export(
    export_name: &str,
    ident: &str,
    env: Option<&Type>,
    body: TokenStream2,
) -> TokenStream2 {
    let ident = format_ident!("{ident}");
    let env_binding = env_binding(env);
    // SIMD for the loops over columns whatever the crate's flags: the
    // loop and what it inlines (the user's function, the iterators) are
    // compiled for it. Every engine ferry runs on has it.
    quote! {
        #[unsafe(export_name = #export_name)]
        #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
        extern "C" fn #ident(env_ptr: *mut u8, env_len: usize, columns_ptr: *mut u8, column_count: usize) -> i32 {
            // SAFETY: the host calls exports with buffers it allocated.
            unsafe { ::ferry::__private::call_scalar(
                env_ptr,
                env_len,
                columns_ptr,
                column_count,
                |__ferry_env: &[u8], __ferry_columns: &[::ferry::batch::Column<'_>]| {
                    let _ = __ferry_env;
                    #env_binding
                    #body
                },
            ) }
        }
    }
}

/// Binds the decoded environment as `__ferry_env_value`, when a function
/// takes one. A reference type is decoded as the type it refers to.
fn env_binding(env: Option<&Type>) -> Option<TokenStream2> {
    env.map(|ty| {
        let owned = match ty {
            Type::Reference(reference) => &*reference.elem,
            other => other,
        };
        quote!(let __ferry_env_value: #owned = ::ferry::__private::decode("environment", __ferry_env)?;)
    })
}

/// Arguments in declaration order: the environment (by reference, or cloned
/// per row so the function may take it by value) and the column values.
pub fn call_args(params: &[Param], value_vars: &[syn::Ident]) -> Vec<TokenStream2> {
    let mut values = value_vars.iter();
    params
        .iter()
        .map(|param| {
            if param.is_env {
                match param.ty {
                    Type::Reference(_) => quote!(&__ferry_env_value),
                    _ => quote!(::core::clone::Clone::clone(&__ferry_env_value)),
                }
            } else {
                values
                    .next()
                    .expect("one value per column")
                    .to_token_stream()
            }
        })
        .collect()
}
