//! `#[ferry::udf]`: a row function made a vectorized SQL scalar function.

use ferry_abi::FunctionRecord;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{ItemFn, ReturnType};

use crate::column::{column_slot, column_types, input_columns};
use crate::export::{batch_export, call_args, emit};
use crate::handle::{Closure, handle};
use crate::parse::{Options, generic_argument, prelude, type_name};
use crate::row_loop::RowLoop;

/// The function, its batch-convention export and its record.
pub fn expand(options: Options, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let (params, name) = prelude(options, sig, "ferry::udf")?;
    let rust_name = &sig.ident;
    let env = params.iter().find(|p| p.is_env).map(|p| &p.ty);
    let columns = input_columns(&params)?;
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

    let record = FunctionRecord::scalar(
        &name,
        &column_types(&columns),
        result.column_type,
        env.map(type_name).as_deref(),
    );

    let rows = RowLoop::new(&columns);
    let call_args = call_args(&params, &rows.value_vars);
    let returned_inner = &result.inner;
    let call = quote!(#rust_name(#(#call_args),*));
    let call = if fallible {
        quote!(::ferry::__private::row_result(__ferry_row, #call)?)
    } else {
        call
    };
    let setup = rows.setup();
    let output = result.new_output(quote!(__ferry_rows));
    // An infallible function of non-null values fills the output in one
    // tight loop over zipped columns.
    let fast = match rows.zipped() {
        Some((iter, pattern)) if !fallible && !result.nullable => Some(quote! {
            __ferry_out.extend_values::<#returned_inner>(#iter.map(|#pattern| #call));
        }),
        _ => None,
    };
    let row_loop = rows.run(
        quote!(__ferry_out.push::<#returned_inner>(::core::option::Option::None);),
        result.push_output(call),
        fast,
    );

    let export = batch_export(
        &record.export,
        "__ferry_udf",
        env,
        quote! {
            #setup
            #output
            #row_loop
            ::core::result::Result::Ok(__ferry_out)
        },
    );
    let mut expanded = emit(&func, record, export);
    expanded.extend(handle(rust_name, &func.vis, &name, env, Closure::Sql));
    Ok(expanded)
}
