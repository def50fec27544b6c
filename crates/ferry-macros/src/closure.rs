//! `ferry::closure!` on the host: the body type-checked as the guest
//! compiles it, and a typed closure of the function the build script put
//! in the guest for it (`ferry_build::closure` reads both alike).

use ferry_build::closure::InlineClosure;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};

use crate::handle::module_path;

/// The typed closure, made where the macro is, with the captures cloned
/// into its environment.
pub fn expand(input: TokenStream2) -> syn::Result<TokenStream2> {
    let closure: InlineClosure = syn::parse2(input)?;
    let module_path = match module_path() {
        None => {
            return Err(syn::Error::new(
                Span::call_site(),
                "ferry::closure! runs in the guest this crate's build script builds: \
                 add `ferry_build::guest(\"src/guest.rs\").build();` to build.rs",
            ));
        }
        Some(Err(error)) => return Ok(error),
        Some(Ok(path)) => path,
    };
    let check = closure.function(&format_ident!("check"));
    let mark = format_ident!("{}", closure.name);
    let (input, output) = (closure.input_type(), closure.value_type());
    let name = &closure.name;
    let captures: Vec<_> = closure.captures.iter().map(|(name, _)| name).collect();
    // Each capture is of the type it is declared with, as the guest will
    // decode it.
    let typed = closure
        .captures
        .iter()
        .map(|(name, ty)| quote!(let #name: &#ty = &#name;));
    let make = quote!(::ferry_host::TypedClosure::new(&#module_path::__ferry_module()?, #name));
    let make = match captures.is_empty() {
        true => make,
        false => quote!(#make?.with_env(&(#(&#captures,)*))),
    };
    Ok(quote! {{
        // The body sees what it will see in the guest: the captures, the
        // parameters and the guest's public items, not this module's. A
        // variable of the host it uses without capturing it is an error
        // here (a function item cannot capture), not in the guest.
        #[allow(dead_code, unused_variables, non_snake_case, clippy::all)]
        mod __ferry_closure {
            #[allow(unused_imports)]
            use #module_path::*;
            #check
        }
        // The build script saw this closure and put it in the guest.
        let () = #module_path::#mark;
        #(#typed)*
        (|| -> ::core::result::Result<::ferry_host::TypedClosure<#input, #output>, ::ferry_host::Error> {
            #make
        })()
    }})
}
