//! Procedural macros of the ferry guest SDK. Use them through the `ferry`
//! crate: `#[ferry::function]`.

use ferry_abi::batch::ColumnType;
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
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

/// Exports a row function as a vectorized SQL scalar function. See the
/// `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn udf(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as Options);
    let func = syn::parse_macro_input!(item as ItemFn);
    expand_udf(options, func)
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

/// The user's function, unchanged, and on WebAssembly its export and its
/// record in the `ferry.functions` section.
fn emit(func: &ItemFn, record: &ferry_abi::FunctionRecord, export: TokenStream2) -> TokenStream2 {
    let record_bytes = record.to_section_line().into_bytes();
    let record_len = record_bytes.len();
    let record_lit = syn::LitByteStr::new(&record_bytes, Span::call_site());
    quote! {
        // Outside WebAssembly there is no export to use the function; it stays
        // an ordinary function for native unit tests.
        #[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
        #func

        #[cfg(target_family = "wasm")]
        const _: () = {
            #export

            #[used]
            #[unsafe(link_section = "ferry.functions")]
            static __FERRY_RECORD: [u8; #record_len] = *#record_lit;
        };
    }
}

/// What both macros check and read first: a plain function, its
/// parameters, and the name callers use.
fn prelude(
    options: Options,
    sig: &syn::Signature,
    attribute: &str,
) -> syn::Result<(Vec<Param>, String)> {
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() || sig.variadic.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            format!("#[{attribute}] takes a plain, non-generic, non-async function"),
        ));
    }
    let name = options
        .name
        .map(|lit| lit.value())
        .unwrap_or_else(|| sig.ident.to_string());
    Ok((typed_params(sig)?, name))
}

fn expand(options: Options, func: ItemFn) -> syn::Result<TokenStream2> {
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
    let mut record = ferry_abi::FunctionRecord::value(
        &name,
        &input_description,
        &output_description,
        env.map(|p| type_name(&p.ty)).as_deref(),
    );
    record.sdk = Some(format!("ferry-rust/{}", env!("CARGO_PKG_VERSION")));
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

    Ok(emit(
        &func,
        &record,
        quote! {
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
        },
    ))
}

/// How a parameter or result of a UDF maps onto a column.
struct ColumnSlot {
    /// The column type, by ABI name.
    column_type: ColumnType,
    /// The Rust type read or written per row (without `Option`).
    inner: Type,
    /// Whether nulls reach the function (`Option<T>`) rather than
    /// propagating.
    nullable: bool,
}

fn column_slot(ty: &Type) -> syn::Result<ColumnSlot> {
    if let Some(inner) = generic_argument(ty, "Option") {
        let mut slot = column_slot(&inner)?;
        slot.nullable = true;
        return Ok(slot);
    }
    let name = type_name(ty);
    let column_type = match name.as_str() {
        "bool" => ColumnType::Boolean,
        "i8" => ColumnType::Int8,
        "i16" => ColumnType::Int16,
        "i32" => ColumnType::Int32,
        "i64" => ColumnType::Int64,
        "u8" => ColumnType::UInt8,
        "u16" => ColumnType::UInt16,
        "u32" => ColumnType::UInt32,
        "u64" => ColumnType::UInt64,
        "f32" => ColumnType::Float32,
        "f64" => ColumnType::Float64,
        "&str" | "String" => ColumnType::Utf8,
        "&[u8]" | "Vec<u8>" => ColumnType::Binary,
        _ => {
            return Err(syn::Error::new(
                ty.span(),
                "a #[ferry::udf] column must be bool, an integer, f32, f64, &str, String, &[u8], Vec<u8>, or an Option of one",
            ));
        }
    };
    Ok(ColumnSlot {
        column_type,
        inner: ty.clone(),
        nullable: false,
    })
}

/// `T` of `Wrapper<T>` (the first argument, for `Result<T, E>`).
fn generic_argument(ty: &Type, wrapper: &str) -> Option<Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != wrapper {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty.clone()),
        _ => None,
    })
}

fn expand_udf(options: Options, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let (params, name) = prelude(options, sig, "ferry::udf")?;
    let rust_name = &sig.ident;
    let env = params.iter().find(|p| p.is_env);
    let columns: Vec<(&Param, ColumnSlot)> = params
        .iter()
        .filter(|p| !p.is_env)
        .map(|p| column_slot(&p.ty).map(|slot| (p, slot)))
        .collect::<syn::Result<_>>()?;
    let ReturnType::Type(_, returned) = &sig.output else {
        return Err(syn::Error::new(
            sig.span(),
            "a #[ferry::udf] returns a value for each row",
        ));
    };
    let (fallible, returned) = match generic_argument(returned, "Result") {
        Some(ok) => (true, ok),
        None => (false, (**returned).clone()),
    };
    let result = column_slot(&returned)?;

    let arg_types: Vec<ColumnType> = columns.iter().map(|(_, slot)| slot.column_type).collect();
    let mut record = ferry_abi::FunctionRecord::scalar(
        &name,
        &arg_types,
        result.column_type,
        env.map(|p| type_name(&p.ty)).as_deref(),
    );
    record.sdk = Some(format!("ferry-rust/{}", env!("CARGO_PKG_VERSION")));
    let export = &record.export;

    let env_binding = env.map(|p| {
        let ty = &p.ty;
        quote!(let __ferry_env_value: #ty = ::ferry::__private::decode("environment", __ferry_env)?;)
    });
    let count = columns.len();
    let tags: Vec<u32> = arg_types.iter().map(|t| *t as u32).collect();
    let column_vars: Vec<_> = (0..count)
        .map(|i| format_ident!("__ferry_column{i}"))
        .collect();
    let value_vars: Vec<_> = (0..count)
        .map(|i| format_ident!("__ferry_value{i}"))
        .collect();
    // Arguments in declaration order: the environment (cloned per row, so the
    // function may take it by value) and the column values.
    let mut call_args = Vec::new();
    let mut column_index = 0;
    for param in &params {
        if param.is_env {
            call_args.push(quote!(::core::clone::Clone::clone(&__ferry_env_value)));
        } else {
            call_args.push(value_vars[column_index].to_token_stream());
            column_index += 1;
        }
    }
    let returned_inner = &result.inner;
    let indices = (0..count).map(proc_macro2::Literal::usize_unsuffixed);
    // Without nulls anywhere, every value is read as is: the fast loop.
    let fast_reads = columns.iter().zip(&column_vars).zip(&value_vars).map(|(((_, slot), column), value)| {
        let inner = &slot.inner;
        if slot.nullable {
            quote!(let #value = ::core::option::Option::Some(#column.value::<#inner>(__ferry_row));)
        } else {
            quote!(let #value = #column.value::<#inner>(__ferry_row);)
        }
    });
    // With nulls, a null in a non-`Option` argument makes the row null.
    let null_reads = columns.iter().zip(&column_vars).zip(&value_vars).map(|(((_, slot), column), value)| {
        let inner = &slot.inner;
        if slot.nullable {
            quote!(let #value = #column.get::<#inner>(__ferry_row);)
        } else {
            quote!(
                let ::core::option::Option::Some(#value) = #column.get::<#inner>(__ferry_row) else {
                    __ferry_out.push::<#returned_inner>(::core::option::Option::None);
                    continue;
                };
            )
        }
    });
    let call = quote!(#rust_name(#(#call_args),*));
    let call = if fallible {
        quote!(::ferry::__private::row_result(__ferry_row, #call)?)
    } else {
        call
    };
    let push = if result.nullable {
        quote!(__ferry_out.push::<#returned_inner>(#call);)
    } else {
        quote!(__ferry_out.push_value::<#returned_inner>(#call);)
    };
    let null_reads: Vec<_> = null_reads.collect();

    Ok(emit(
        &func,
        &record,
        quote! {
                #[unsafe(export_name = #export)]
                extern "C" fn __ferry_udf(env_ptr: *mut u8, env_len: usize, columns_ptr: *mut u8, column_count: usize) -> i32 {
                    ::ferry::__private::call_scalar(
                        env_ptr,
                        env_len,
                        columns_ptr,
                        column_count,
                        |__ferry_env: &[u8], __ferry_columns: &[::ferry::batch::Column<'_>]| {
                            let _ = __ferry_env;
                            #env_binding
                            ::ferry::__private::expect_columns(__ferry_columns, &[#(#tags),*])?;
                            #(let #column_vars = __ferry_columns[#indices];)*
                            let __ferry_rows = ::ferry::__private::rows(__ferry_columns);
                            let mut __ferry_out = ::ferry::batch::ColumnBuilder::new(
                                <#returned_inner as ::ferry::batch::ToColumn>::TYPE,
                                __ferry_rows,
                            );
                            if !(false #(|| #column_vars.has_nulls())*) {
                                for __ferry_row in 0..__ferry_rows {
                                    #(#fast_reads)*
                                    #push
                                }
                            } else {
                                for __ferry_row in 0..__ferry_rows {
                                    #(#null_reads)*
                                    #push
                                }
                            }
                            ::core::result::Result::Ok(__ferry_out)
                        },
                    )
                }
        },
    ))
}

/// The parameters, each marked as the environment (named `env`) or not.
fn typed_params(sig: &syn::Signature) -> syn::Result<Vec<Param>> {
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
                "a ferry function cannot take `self`",
            )),
        })
        .collect::<syn::Result<Vec<_>>>()?;
    if params.iter().filter(|p| p.is_env).count() > 1 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "only one parameter may be the captured environment `env`",
        ));
    }
    Ok(params)
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
