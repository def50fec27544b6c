//! Typed handles on the host, for the functions of a guest embedded in it
//! by `ferry-build`: beside each function, a module of the same name whose
//! functions make closures of it from the embedded module. Only for crates
//! whose build script embeds a guest (it sets the variable below); a guest
//! crate compiled natively, for its types or its tests, gets none.

use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{Ident, Type, Visibility};

/// Set by `ferry-build` for the host's compilation: the module that
/// embeds the guest, as a path (`crate::guest`).
const MODULE_PATH_ENV: &str = "FERRY_GUEST_MODULE_PATH";

/// The module that embeds the guest, if a build script built one: `None`
/// when none did, an error when the variable is not a path.
pub fn module_path() -> Option<Result<syn::Path, TokenStream2>> {
    let path = std::env::var(MODULE_PATH_ENV).ok()?;
    Some(syn::parse_str(&path).map_err(|_| {
        let message = format!("{MODULE_PATH_ENV} is not a module path: `{path}`");
        quote!(::core::compile_error!(#message);)
    }))
}

/// What a handle makes.
pub enum Closure {
    /// A `TypedClosure<input, output>` of a value function.
    Typed {
        input: TokenStream2,
        output: TokenStream2,
    },
    /// A `Closure` of a SQL function, for `ferry-sql` to register.
    Sql,
}

/// The handle module `ident` for the guest function `name`, whose
/// environment, if it takes one, is of type `env`.
pub fn handle(
    ident: &Ident,
    vis: &Visibility,
    name: &str,
    env: Option<&Type>,
    closure: Closure,
) -> TokenStream2 {
    let module_path = match module_path() {
        None => return quote!(),
        Some(Err(error)) => return error,
        Some(Ok(path)) => path,
    };
    // The host calls the guest from its own modules, whatever the
    // function's visibility in the guest.
    let vis = match vis {
        Visibility::Inherited => quote!(pub(crate)),
        vis => quote!(#vis),
    };
    let maker = maker(&module_path, name, env, closure);
    let doc = format!("The host's handle on the guest function `{name}`.");
    quote! {
        #[cfg(not(target_family = "wasm"))]
        #[doc = #doc]
        #[allow(dead_code)]
        #vis mod #ident {
            #[allow(unused_imports)]
            use super::*;
            #maker
        }
    }
}

/// The handle's function: `with_env(&env)` for a function with an
/// environment, `closure()` for one without.
pub fn maker(
    module_path: &syn::Path,
    name: &str,
    env: Option<&Type>,
    closure: Closure,
) -> TokenStream2 {
    let (made, make) = match closure {
        Closure::Typed { input, output } => (
            quote!(::ferry_host::TypedClosure<#input, #output>),
            quote!(::ferry_host::TypedClosure::new(&#module_path::__ferry_module()?, #name)),
        ),
        Closure::Sql => (
            quote!(::ferry_host::Closure),
            quote!(::ferry_host::Closure::new(&#module_path::__ferry_module()?, #name)),
        ),
    };
    match env {
        Some(env) => {
            let env = match env {
                Type::Reference(reference) => &*reference.elem,
                owned => owned,
            };
            let doc = format!("`{name}` of the embedded guest, with `env` as its environment.");
            quote! {
                #[doc = #doc]
                pub fn with_env(env: &#env) -> ::core::result::Result<#made, ::ferry_host::Error> {
                    #make?.with_env(env)
                }
            }
        }
        None => {
            let doc = format!("`{name}` of the embedded guest.");
            quote! {
                #[doc = #doc]
                pub fn closure() -> ::core::result::Result<#made, ::ferry_host::Error> {
                    #make
                }
            }
        }
    }
}

/// `ferry::embed!()`: on the host, the embedded module, for the handles;
/// in the guest, nothing. Without a build script that built the guest, an
/// error saying what to add.
pub fn embed() -> TokenStream2 {
    let file = ferry_build::EMBED_FILE;
    match module_path() {
        Some(Ok(_)) => quote! {
            #[cfg(not(target_family = "wasm"))]
            include!(concat!(env!("OUT_DIR"), "/", #file));
        },
        Some(Err(error)) => error,
        None => quote! {
            #[cfg(not(target_family = "wasm"))]
            ::core::compile_error!(
                "this file is a guest that ferry-build embeds: add `ferry_build::guest(\"src/guest.rs\").build();` \
                 to the host's build.rs, and ferry-build to its [build-dependencies]"
            );
        },
    }
}
