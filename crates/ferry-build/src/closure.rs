//! Closures written where they are used: `ferry::closure!` in the host's
//! code. The SDK's macro reads each one on the host, and the build script
//! reads the same text for the guest, with this one parser: both name the
//! guest function by the same hash of the closure's tokens, so the handle
//! the macro makes calls the function the build put in the guest.
//!
//! ```text
//! ferry::closure!([spec: Binning] |events: Events| -> Counts { fill(spec, events).unwrap() })
//! ```
//!
//! Captures are named with their types in brackets, since the closure
//! leaves the process: each is serialized into the environment. The body
//! sees the captures, the parameters and the guest's public items, nothing
//! else of the host.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Block, Ident, Pat, Token, Type};

/// One `ferry::closure!`, parsed.
pub struct InlineClosure {
    /// Host variables the closure takes with it, and their types.
    pub captures: Vec<(Ident, Type)>,
    /// The closure's parameters: its input.
    pub params: Vec<(Pat, Type)>,
    /// The declared return type.
    pub output: Type,
    /// The body.
    pub body: Block,
    /// The guest function's name, from the tokens.
    pub name: String,
}

impl Parse for InlineClosure {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = function_name(&input.fork().parse::<TokenStream>()?);
        let mut captures = Vec::new();
        if input.peek(syn::token::Bracket) {
            let inside;
            syn::bracketed!(inside in input);
            while !inside.is_empty() {
                let ident: Ident = inside.parse()?;
                inside.parse::<Token![:]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!("give the type of `{ident}`: `[{ident}: Type]`; captures travel serialized"),
                    )
                })?;
                captures.push((ident, inside.parse()?));
                if !inside.is_empty() {
                    inside.parse::<Token![,]>()?;
                }
            }
        }
        input.parse::<Option<Token![move]>>()?;
        input.parse::<Token![|]>()?;
        let mut params = Vec::new();
        while !input.peek(Token![|]) {
            let pat = Pat::parse_single(input)?;
            if matches!(&pat, Pat::Ident(p) if p.ident == "env") {
                return Err(syn::Error::new_spanned(
                    &pat,
                    "`env` is the name of a function's captured environment: call the parameter something else",
                ));
            }
            input.parse::<Token![:]>().map_err(|e| {
                syn::Error::new(e.span(), "give each parameter a type: `|x: Type|`")
            })?;
            params.push((pat, input.parse()?));
            if !input.peek(Token![|]) {
                input.parse::<Token![,]>()?;
            }
        }
        input.parse::<Token![|]>()?;
        input.parse::<Token![->]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "give the return type: `|x: In| -> Out { .. }`; the result travels serialized",
            )
        })?;
        let output = input.parse()?;
        let body = input.parse()?;
        Ok(InlineClosure {
            captures,
            params,
            output,
            body,
            name,
        })
    }
}

impl InlineClosure {
    /// The environment's type: a tuple of the captures' types.
    pub fn env_type(&self) -> TokenStream {
        let types = self.captures.iter().map(|(_, ty)| ty);
        quote!((#(#types,)*))
    }

    /// The input's type: the parameter's, or a tuple of several.
    pub fn input_type(&self) -> TokenStream {
        match self.params.as_slice() {
            [(_, ty)] => quote!(#ty),
            many => {
                let types = many.iter().map(|(_, ty)| ty);
                quote!((#(#types,)*))
            }
        }
    }

    /// What a call gives the host: the return type, or `T` of a
    /// `Result<T, E>`, whose `Err` is the guest's error.
    pub fn value_type(&self) -> TokenStream {
        if let Type::Path(path) = &self.output
            && let Some(last) = path.path.segments.last()
            && last.ident == "Result"
            && let syn::PathArguments::AngleBracketed(args) = &last.arguments
            && let Some(syn::GenericArgument::Type(ok)) = args.args.first()
        {
            return quote!(#ok);
        }
        let output = &self.output;
        quote!(#output)
    }

    /// The function's signature and body, named `ident`: the captures
    /// bound from the environment, then the body.
    pub fn function(&self, ident: &Ident) -> TokenStream {
        let names = self.captures.iter().map(|(name, _)| name);
        let env = match self.captures.is_empty() {
            true => quote!(),
            false => {
                let ty = self.env_type();
                quote!(env: #ty,)
            }
        };
        let bind = match self.captures.is_empty() {
            true => quote!(),
            false => quote!(let (#(#names,)*) = env;),
        };
        let params = self.params.iter().map(|(pat, ty)| quote!(#pat: #ty));
        let (output, statements) = (&self.output, &self.body.stmts);
        quote! {
            fn #ident(#env #(#params),*) -> #output {
                #bind
                #(#statements)*
            }
        }
    }

    /// The function as the guest exports it.
    pub fn guest_function(&self) -> TokenStream {
        let ident = format_ident!("{}", self.name);
        let name = &self.name;
        let function = self.function(&ident);
        quote! {
            #[::ferry::function(name = #name)]
            #function
        }
    }
}

/// Every `ferry::closure!` in a Rust source file, wherever it is (in
/// functions, in other macros' arguments); none if the file does not
/// tokenize (the host's build says why).
pub fn closures_in(source: &str) -> Vec<InlineClosure> {
    fn is(token: &TokenTree, text: &str) -> bool {
        match token {
            TokenTree::Ident(ident) => ident == text,
            TokenTree::Punct(punct) => text.len() == 1 && text.starts_with(punct.as_char()),
            _ => false,
        }
    }
    fn walk(tokens: TokenStream, found: &mut Vec<InlineClosure>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, token) in tokens.iter().enumerate() {
            let TokenTree::Group(group) = token else {
                continue;
            };
            let invocation = i >= 5
                && ["ferry", ":", ":", "closure", "!"]
                    .iter()
                    .zip(&tokens[i - 5..i])
                    .all(|(text, token)| is(token, text));
            match invocation {
                true => found.extend(syn::parse2(group.stream()).ok()),
                false => walk(group.stream(), found),
            }
        }
    }
    let Ok(tokens) = source.parse::<TokenStream>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    walk(tokens, &mut found);
    found
}

/// `__ferry_closure_` and a hash of the tokens: the same for the same
/// closure however it was read, since spacing is not part of tokens.
fn function_name(tokens: &TokenStream) -> String {
    fn walk(tokens: TokenStream, text: &mut String) {
        for token in tokens {
            match token {
                TokenTree::Group(group) => {
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    text.push_str(open);
                    walk(group.stream(), text);
                    text.push_str(close);
                }
                TokenTree::Punct(punct) => text.push(punct.as_char()),
                // A string by its value: the compiler and a build script
                // escape the same text differently (`'` in doc comments),
                // and a checkout may end its lines with CRLF.
                TokenTree::Literal(literal) => {
                    match syn::parse2::<syn::LitStr>(TokenTree::Literal(literal.clone()).into()) {
                        Ok(string) => {
                            text.push('"');
                            text.push_str(&string.value().replace("\r\n", "\n"));
                            text.push('"');
                        }
                        Err(_) => text.push_str(&literal.to_string()),
                    }
                }
                other => text.push_str(&other.to_string()),
            }
            text.push(' ');
        }
    }
    let mut text = String::new();
    walk(tokens.clone(), &mut text);
    // FNV-1a: a name, not a defence; the module's own hash guards its bytes.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("__ferry_closure_{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_macro_and_the_build_script_name_a_closure_alike() {
        let source = r#"
            fn main() {
                let spec = 3;
                let f = ferry::closure!([spec: u32, scale: f64] move |x: u32| -> u64 { (x * spec) as u64 });
                println!("{:?}", ferry::closure!(|a: i64, b: i64| -> i64 {
                    a + b
                }));
            }
        "#;
        let found = closures_in(source);
        assert_eq!(found.len(), 2);
        let direct: InlineClosure =
            syn::parse_str("[spec:u32,scale:f64]move|x:u32|->u64{(x*spec)as u64}").unwrap();
        assert_eq!(found[0].name, direct.name);
        assert_ne!(found[0].name, found[1].name);
        assert_eq!(found[1].input_type().to_string(), "(i64 , i64 ,)");
        assert_eq!(found[0].env_type().to_string(), "(u32 , f64 ,)");
    }

    #[test]
    fn strings_are_named_by_their_value() {
        let name = |text: &str| syn::parse_str::<InlineClosure>(text).unwrap().name;
        let a = name(r#"|x: u32| -> String { format!("it's {x}") }"#);
        assert_eq!(a, name(r#"|x: u32| -> String { format!("it\'s {x}") }"#));
        assert_ne!(a, name(r#"|x: u32| -> String { format!("its {x}") }"#));
    }

    #[test]
    fn a_parameter_named_env_is_refused() {
        let error = syn::parse_str::<InlineClosure>("|env: u32| -> u32 { env }")
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("call the parameter something else"),
            "{error}"
        );
    }

    #[test]
    fn a_capture_without_a_type_is_refused_saying_why() {
        let error = syn::parse_str::<InlineClosure>("[spec] |x: u32| -> u32 { x }")
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("give the type of `spec`"),
            "{error}"
        );
        let error = syn::parse_str::<InlineClosure>("|x: u32| { x }")
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("give the return type"),
            "{error}"
        );
    }
}
