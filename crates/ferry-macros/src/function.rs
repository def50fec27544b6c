//! `#[ferry::function]`: a value function, MessagePack in and out.

use ferry_abi::FunctionRecord;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{ItemFn, ReturnType};

use crate::export::emit;
use crate::handle::{Closure, handle};
use crate::parse::{Options, Param, generic_argument, is_result, prelude, type_name};

/// The function, its value-convention export and its record.
pub fn expand(options: Options, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let (params, name) = prelude(options, sig, "ferry::function")?;
    let rust_name = &sig.ident;
    let env = params.iter().find(|p| p.is_env);
    let inputs: Vec<&Param> = params.iter().filter(|p| !p.is_env).collect();

    let input_description = match inputs.as_slice() {
        [single] => type_name(&single.ty),
        many => format!(
            "({})",
            many.iter()
                .map(|p| type_name(&p.ty))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (output_description, finish) = match &sig.output {
        ReturnType::Default => ("()".to_owned(), quote!(finish_value)),
        ReturnType::Type(_, ty) => {
            let finish = if is_result(ty) {
                quote!(finish_result)
            } else {
                quote!(finish_value)
            };
            (type_name(ty), finish)
        }
    };
    let record = FunctionRecord::value(
        &name,
        &input_description,
        &output_description,
        env.map(|p| type_name(&p.ty)).as_deref(),
    );
    let export = &record.export;

    // Arguments are decoded into fresh bindings and passed positionally, so any
    // pattern the user wrote in the signature keeps working.
    let args: Vec<_> = (0..params.len())
        .map(|i| format_ident!("__ferry_arg{i}"))
        .collect();
    let env_binding = params
        .iter()
        .zip(&args)
        .find(|(p, _)| p.is_env)
        .map(|(p, arg)| {
            let ty = &p.ty;
            quote!(let #arg: #ty = ::ferry::__private::decode("environment", __ferry_env)?;)
        });
    let input_args: Vec<_> = params
        .iter()
        .zip(&args)
        .filter(|(p, _)| !p.is_env)
        .collect();
    let input_binding = match input_args.as_slice() {
        [] => quote!(),
        [(p, arg)] => {
            let ty = &p.ty;
            quote!(let #arg: #ty = ::ferry::__private::decode("input", __ferry_input)?;)
        }
        many => {
            let names = many.iter().map(|(_, arg)| arg);
            let types = many.iter().map(|(p, _)| &p.ty);
            quote!(let (#(#names,)*): (#(#types,)*) = ::ferry::__private::decode("input", __ferry_input)?;)
        }
    };

    let export = quote! {
        #[unsafe(export_name = #export)]
        extern "C" fn __ferry_export(
            env_ptr: *mut u8,
            env_len: usize,
            input_ptr: *mut u8,
            input_len: usize,
        ) -> i32 {
            // SAFETY: the host calls exports with buffers it allocated.
            unsafe { ::ferry::__private::call_value(
                env_ptr,
                env_len,
                input_ptr,
                input_len,
                |__ferry_env: &[u8], __ferry_input: &[u8]| {
                    let _ = (__ferry_env, __ferry_input);
                    #env_binding
                    #input_binding
                    ::ferry::__private::#finish(#rust_name(#(#args),*))
                },
            ) }
        }
    };
    let input = match inputs.as_slice() {
        [single] => {
            let ty = &single.ty;
            quote!(#ty)
        }
        many => {
            let types = many.iter().map(|p| &p.ty);
            quote!((#(#types,)*))
        }
    };
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => {
            let ty = generic_argument(ty, "Result").unwrap_or_else(|| (**ty).clone());
            quote!(#ty)
        }
    };
    let mut expanded = emit(&func, record, export);
    expanded.extend(handle(
        rust_name,
        &func.vis,
        &name,
        env.map(|p| &p.ty),
        Closure::Typed { input, output },
    ));
    Ok(expanded)
}
