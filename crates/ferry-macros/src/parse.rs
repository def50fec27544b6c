//! Reading what the macros are given: the attribute's options, and the
//! parameters and types of a signature.

use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, Pat, Token, Type};

/// `#[ferry::function(name = "other")]` renames the function for callers.
#[derive(Default)]
pub struct Options {
    name: Option<LitStr>,
}

impl Options {
    /// The name callers use: the one given, else `default`.
    pub fn name_or(self, default: impl FnOnce() -> String) -> String {
        self.name.map(|lit| lit.value()).unwrap_or_else(default)
    }
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
pub struct Param {
    /// The declared type.
    pub ty: Type,
    /// Whether it is the captured environment: named `env` (or `_env`).
    pub is_env: bool,
}

/// What `#[ferry::function]` and `#[ferry::udf]` check and read first: a
/// plain function, its parameters, and the name callers use.
pub fn prelude(
    options: Options,
    sig: &syn::Signature,
    attribute: &str,
) -> syn::Result<(Vec<Param>, String)> {
    if !sig.generics.params.is_empty()
        || sig.asyncness.is_some()
        || sig.variadic.is_some()
        || sig.receiver().is_some()
    {
        return Err(syn::Error::new(
            sig.span(),
            format!("#[{attribute}] takes a plain function: not generic, not async, no `self`"),
        ));
    }
    let name = options.name_or(|| sig.ident.to_string());
    Ok((typed_params(sig)?, name))
}

/// The parameters, each marked as the environment (named `env`) or not.
pub fn typed_params(sig: &syn::Signature) -> syn::Result<Vec<Param>> {
    let params = sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Typed(typed) => Ok(Some(Param {
                ty: (*typed.ty).clone(),
                is_env: is_env_pattern(&typed.pat),
            })),
            FnArg::Receiver(_) => Ok(None),
        })
        .filter_map(Result::transpose)
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
pub fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        _ => false,
    }
}

/// `T` of `Wrapper<T>` (the first argument, for `Result<T, E>`).
pub fn generic_argument(ty: &Type, wrapper: &str) -> Option<Type> {
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

/// The type as a person would write it, for the metadata record.
pub fn type_name(ty: &Type) -> String {
    quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace("& ", "&")
        .replace(" :: ", "::")
}
