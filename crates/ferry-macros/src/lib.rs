//! Procedural macros of the ferry guest SDK. Use them through the `ferry`
//! crate: `#[ferry::function]`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Token, Type};

/// Exports a function to ferry hosts. See the `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as Options);
    let func = syn::parse_macro_input!(item as ItemFn);
    expand(options, func)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// `#[ferry::function(name = "other")]` renames the function for callers.
#[derive(Default)]
struct Options {
    name: Option<LitStr>,
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut options = Options::default();
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if key == "name" {
                options.name = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(key.span(), "expected `name = \"...\"`"));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(options)
    }
}

/// A parameter of the exported function, in declaration order.
struct Param {
    ty: Type,
    is_env: bool,
}

fn expand(options: Options, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() || sig.variadic.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "#[ferry::function] takes a plain, non-generic, non-async function",
        ));
    }
    let params = sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Typed(typed) => Ok(Param {
                ty: (*typed.ty).clone(),
                is_env: is_env_pattern(&typed.pat),
            }),
            FnArg::Receiver(r) => Err(syn::Error::new(
                r.span(),
                "#[ferry::function] cannot take `self`",
            )),
        })
        .collect::<syn::Result<Vec<_>>>()?;
    if params.iter().filter(|p| p.is_env).count() > 1 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "only one parameter may be the captured environment `env`",
        ));
    }

    let rust_name = &sig.ident;
    let name = options
        .name
        .map(|lit| lit.value())
        .unwrap_or_else(|| rust_name.to_string());
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
    let mut record = ferry_abi::FunctionRecord::value(
        &name,
        &input_description,
        &output_description,
        env.map(|p| type_name(&p.ty)).as_deref(),
    );
    record.sdk = Some(format!("ferry-rust/{}", env!("CARGO_PKG_VERSION")));
    let record_bytes = record.to_section_line().into_bytes();
    let record_len = record_bytes.len();
    let record_lit = syn::LitByteStr::new(&record_bytes, Span::call_site());
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

    Ok(quote! {
        // Outside WebAssembly there is no export to use the function; it stays
        // an ordinary function for native unit tests.
        #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
        #func

        #[cfg(target_family = "wasm")]
        const _: () = {
            #[unsafe(export_name = #export)]
            extern "C" fn __ferry_export(
                env_ptr: *mut u8,
                env_len: usize,
                input_ptr: *mut u8,
                input_len: usize,
            ) -> i32 {
                ::ferry::__private::call_value(
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
                )
            }

            #[used]
            #[unsafe(link_section = "ferry.functions")]
            static __FERRY_RECORD: [u8; #record_len] = *#record_lit;
        };
    })
}

fn is_env_pattern(pat: &Pat) -> bool {
    match pat {
        Pat::Ident(ident) => ident.ident == "env" || ident.ident == "_env",
        _ => false,
    }
}

/// Whether the return type is spelled as some `Result<..>`; such functions
/// report `Err` as a guest error rather than serializing it as a value.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        _ => false,
    }
}

/// The type as a person would write it, for the metadata record.
fn type_name(ty: &Type) -> String {
    quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" :: ", "::")
}
