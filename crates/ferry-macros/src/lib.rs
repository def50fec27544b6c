//! Procedural macros of the ferry guest SDK. Use them through the `ferry`
//! crate: `#[ferry::function]`.

use ferry_abi::batch::{AggregateStep, ColumnType};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Token, Type};

/// Exports a function to ferry hosts. See the `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, expand)
}

/// Exports a row function as a vectorized SQL scalar function. See the
/// `ferry` crate for the rules.
#[proc_macro_attribute]
pub fn udf(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, expand_udf)
}

/// Exports a type's `init`, `update`, `merge` and `finish` (and `retract`,
/// if it has one) as a SQL aggregate function. See the `ferry` crate for the
/// rules.
#[proc_macro_attribute]
pub fn udaf(attr: TokenStream, item: TokenStream) -> TokenStream {
    attribute(attr, item, expand_udaf)
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
fn emit(
    item: &impl ToTokens,
    record: &ferry_abi::FunctionRecord,
    export: TokenStream2,
) -> TokenStream2 {
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
    // Date and timestamp types are matched by their last path segment, so
    // `ferry::batch::Date32` and an imported `Date32` both work.
    let column_type = match name.rsplit("::").next().unwrap_or_default() {
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
        "Date32" => ColumnType::Date32,
        "TimestampMicros" => ColumnType::TimestampMicros,
        _ => {
            return Err(syn::Error::new(
                ty.span(),
                "a SQL function column must be bool, an integer, f32, f64, &str, String, &[u8], Vec<u8>, Date32, TimestampMicros, or an Option of one",
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

    let env_binding = env_binding(env.map(|p| &p.ty));
    let slots: Vec<&ColumnSlot> = columns.iter().map(|(_, slot)| slot).collect();
    let rows = RowLoop::new(&slots);
    let call_args = call_args(&params, &rows.value_vars);
    let returned_inner = &result.inner;
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
    let setup = rows.setup(&arg_types);
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
        push,
        fast,
    );

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
                            #setup
                            let mut __ferry_out = ::ferry::batch::ColumnBuilder::new(
                                <#returned_inner as ::ferry::batch::ToColumn>::TYPE,
                                __ferry_rows,
                            );
                            #row_loop
                            ::core::result::Result::Ok(__ferry_out)
                        },
                    )
                }
        },
    ))
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
fn call_args(params: &[Param], value_vars: &[syn::Ident]) -> Vec<TokenStream2> {
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

/// The loop over a batch's rows that both scalar and aggregate functions
/// run: each row's values read into `value_vars`, with a fast loop when no
/// column has nulls.
struct RowLoop<'a> {
    slots: &'a [&'a ColumnSlot],
    column_vars: Vec<syn::Ident>,
    value_vars: Vec<syn::Ident>,
}

impl<'a> RowLoop<'a> {
    fn new(slots: &'a [&'a ColumnSlot]) -> RowLoop<'a> {
        RowLoop {
            slots,
            column_vars: (0..slots.len())
                .map(|i| format_ident!("__ferry_column{i}"))
                .collect(),
            value_vars: (0..slots.len())
                .map(|i| format_ident!("__ferry_value{i}"))
                .collect(),
        }
    }

    /// Checks `__ferry_columns` against the types and binds the columns and
    /// `__ferry_rows`.
    fn setup(&self, types: &[ColumnType]) -> TokenStream2 {
        let tags: Vec<u32> = types.iter().map(|t| *t as u32).collect();
        let column_vars = &self.column_vars;
        let indices = (0..self.slots.len()).map(proc_macro2::Literal::usize_unsuffixed);
        quote! {
            ::ferry::__private::expect_columns(__ferry_columns, &[#(#tags),*])?;
            #(let #column_vars = __ferry_columns[#indices];)*
            let __ferry_rows = ::ferry::__private::rows(__ferry_columns);
        }
    }

    /// With no nulls and no `Option` arguments, every column's values
    /// zipped into one iterator, and the pattern binding them per row.
    fn zipped(&self) -> Option<(TokenStream2, TokenStream2)> {
        if self.slots.is_empty() || self.slots.iter().any(|slot| slot.nullable) {
            return None;
        }
        let mut columns = self
            .slots
            .iter()
            .zip(&self.column_vars)
            .zip(&self.value_vars);
        let ((slot, column), value) = columns.next()?;
        let inner = &slot.inner;
        let mut iter = quote!(<#inner as ::ferry::batch::FromColumn<'_>>::iter(#column));
        let mut pattern = value.to_token_stream();
        for ((slot, column), value) in columns {
            let inner = &slot.inner;
            iter = quote!(::core::iter::zip(#iter, <#inner as ::ferry::batch::FromColumn<'_>>::iter(#column)));
            pattern = quote!((#pattern, #value));
        }
        Some((iter, pattern))
    }

    /// Runs `body` for each row; a null in a non-`Option` argument runs
    /// `on_null` instead. `fast`, if given, replaces the row loop when no
    /// column has nulls.
    fn run(
        &self,
        on_null: TokenStream2,
        body: TokenStream2,
        fast: Option<TokenStream2>,
    ) -> TokenStream2 {
        let reads = self
            .slots
            .iter()
            .zip(&self.column_vars)
            .zip(&self.value_vars);
        let fast_reads = reads.clone().map(|((slot, column), value)| {
            let inner = &slot.inner;
            if slot.nullable {
                quote!(let #value = ::core::option::Option::Some(#column.value::<#inner>(__ferry_row));)
            } else {
                quote!(let #value = #column.value::<#inner>(__ferry_row);)
            }
        });
        let null_reads = reads.map(|((slot, column), value)| {
            let inner = &slot.inner;
            if slot.nullable {
                quote!(let #value = #column.get::<#inner>(__ferry_row);)
            } else {
                quote!(
                    let ::core::option::Option::Some(#value) = #column.get::<#inner>(__ferry_row) else {
                        #on_null
                        continue;
                    };
                )
            }
        });
        let column_vars = &self.column_vars;
        let fast = fast.unwrap_or_else(|| {
            quote! {
                for __ferry_row in 0..__ferry_rows {
                    #(#fast_reads)*
                    #body
                }
            }
        });
        quote! {
            if !(false #(|| #column_vars.has_nulls())*) {
                #fast
            } else {
                for __ferry_row in 0..__ferry_rows {
                    #(#null_reads)*
                    #body
                }
            }
        }
    }
}

/// One of the methods of an aggregate's `impl` block.
struct Step<'a> {
    method: &'a syn::ImplItemFn,
    params: Vec<Param>,
}

impl Step<'_> {
    fn env(&self) -> Option<&Type> {
        self.params.iter().find(|p| p.is_env).map(|p| &p.ty)
    }
}

fn expand_udaf(options: Options, block: syn::ItemImpl) -> syn::Result<TokenStream2> {
    if !block.generics.params.is_empty() || block.trait_.is_some() {
        return Err(syn::Error::new(
            block.span(),
            "#[ferry::udaf] goes on a plain `impl Type { .. }` block",
        ));
    }
    let self_ty = &block.self_ty;
    let optional_step = |name: &str| -> syn::Result<Option<Step<'_>>> {
        let Some(method) = block.items.iter().find_map(|item| match item {
            syn::ImplItem::Fn(method) if method.sig.ident == name => Some(method),
            _ => None,
        }) else {
            return Ok(None);
        };
        Ok(Some(Step {
            method,
            params: typed_params(&method.sig)?,
        }))
    };
    let step = |name: &str| -> syn::Result<Step<'_>> {
        optional_step(name)?.ok_or_else(|| {
            syn::Error::new(
                block.self_ty.span(),
                format!("#[ferry::udaf] needs a method `{name}`: init, update, merge and finish make an aggregate"),
            )
        })
    };
    let (init, update, merge, finish) = (
        step("init")?,
        step("update")?,
        step("merge")?,
        step("finish")?,
    );
    let retract = optional_step("retract")?;
    for (step, inputs, shape) in [
        (&init, 0, "fn init(env: E) -> Self (env optional)"),
        (&merge, 1, "fn merge(&mut self, other: Self)"),
        (&finish, 0, "fn finish(self) -> T"),
    ] {
        if step.params.iter().filter(|p| !p.is_env).count() != inputs {
            return Err(syn::Error::new(
                step.method.sig.span(),
                format!("expected `{shape}`"),
            ));
        }
    }
    let env = [&init, &update, &merge, &finish]
        .into_iter()
        .chain(&retract)
        .find_map(Step::env);
    let name = options
        .name
        .map(|lit| lit.value())
        .unwrap_or_else(|| snake_case(&type_name(self_ty)));

    // The argument columns of a row step (update or retract).
    let columns_of = |step: &Step| -> syn::Result<Vec<ColumnSlot>> {
        step.params
            .iter()
            .filter(|p| !p.is_env)
            .map(|p| column_slot(&p.ty))
            .collect()
    };
    let columns = columns_of(&update)?;
    let retract_columns = retract.as_ref().map(columns_of).transpose()?;
    // Nulls must be skipped alike, or a row could leave a state it never
    // entered.
    let shape = |slots: &[ColumnSlot]| -> Vec<(ColumnType, bool)> {
        slots.iter().map(|s| (s.column_type, s.nullable)).collect()
    };
    if let (Some(retract), Some(retract_columns)) = (&retract, &retract_columns)
        && shape(retract_columns) != shape(&columns)
    {
        return Err(syn::Error::new(
            retract.method.sig.span(),
            "`retract` takes the same columns as `update`: it takes back out what `update` put in",
        ));
    }
    if columns.is_empty() {
        return Err(syn::Error::new(
            update.method.sig.span(),
            "`update` takes at least one column: it is called once per batch, not once per row",
        ));
    }
    let ReturnType::Type(_, returned) = &finish.method.sig.output else {
        return Err(syn::Error::new(
            finish.method.sig.span(),
            "`finish` returns the aggregate's value",
        ));
    };
    let result = column_slot(returned)?;
    let arg_types: Vec<ColumnType> = columns.iter().map(|slot| slot.column_type).collect();
    let mut record = ferry_abi::FunctionRecord::aggregate(
        &name,
        &arg_types,
        result.column_type,
        env.map(type_name).as_deref(),
    );
    record.sdk = Some(format!("ferry-rust/{}", env!("CARGO_PKG_VERSION")));
    record.retract = retract.is_some();
    let export_of = |step| record.step_export(step);

    let env_binding = env_binding(env);
    let init_args = call_args(&init.params, &[]);
    // The states of the call's groups, those without one yet fresh from
    // `init`; after them, the columns the step takes.
    let states = quote! {
        let (__ferry_states, __ferry_columns) = ::ferry::__private::split_states(__ferry_columns)?;
        #[allow(unused_mut)]
        let mut __ferry_aggs: ::std::vec::Vec<#self_ty> =
            ::ferry::__private::read_states(__ferry_states, || <#self_ty>::init(#(#init_args),*))?;
    };
    // The group of each row, and the columns after it.
    let groups = quote! {
        let (__ferry_groups, __ferry_columns) =
            ::ferry::__private::split_groups(__ferry_columns, __ferry_aggs.len())?;
    };
    // The state of the row's group.
    let group_state = quote! {
        let __ferry_agg = &mut __ferry_aggs[__ferry_groups[__ferry_row] as usize];
    };

    // Update and retract: each row into (or out of) its group's state.
    let row_step = |step: &Step, columns: &[ColumnSlot]| {
        let slots: Vec<&ColumnSlot> = columns.iter().collect();
        let rows = RowLoop::new(&slots);
        let method = &step.method.sig.ident;
        let args = call_args(&step.params, &rows.value_vars);
        let call = quote!(__ferry_agg.#method(#(#args),*));
        let call = if is_unit_result(&step.method.sig.output) {
            quote!(#group_state ::ferry::__private::row_result(__ferry_row, #call)?;)
        } else {
            quote!(#group_state #call;)
        };
        let setup = rows.setup(&arg_types);
        let run = rows.run(quote!(), call, None);
        quote! {
            #groups
            #setup
            #run
            ::ferry::__private::write_states(&__ferry_aggs)
        }
    };

    let other = format_ident!("__ferry_other");
    let merge_args = call_args(&merge.params, std::slice::from_ref(&other));
    let finish_args = call_args(&finish.params, &[]);
    let returned_inner = &result.inner;
    let finish_call = quote!(__ferry_agg.finish(#(#finish_args),*));
    let push = if result.nullable {
        quote!(__ferry_out.push::<#returned_inner>(#finish_call);)
    } else {
        quote!(__ferry_out.push_value::<#returned_inner>(#finish_call);)
    };

    // Each step is one batch-convention export.
    let export = |export_name: &String, ident: &str, body: TokenStream2| {
        let ident = format_ident!("{ident}");
        quote! {
            #[unsafe(export_name = #export_name)]
            extern "C" fn #ident(env_ptr: *mut u8, env_len: usize, columns_ptr: *mut u8, column_count: usize) -> i32 {
                ::ferry::__private::call_scalar(
                    env_ptr,
                    env_len,
                    columns_ptr,
                    column_count,
                    |__ferry_env: &[u8], __ferry_columns: &[::ferry::batch::Column<'_>]| {
                        let _ = __ferry_env;
                        #env_binding
                        #states
                        #body
                    },
                )
            }
        }
    };
    let update_export = export(
        &export_of(AggregateStep::Update),
        "__ferry_udaf_update",
        row_step(&update, &columns),
    );
    let retract_export = retract
        .as_ref()
        .zip(retract_columns)
        .map(|(retract, columns)| {
            export(
                &export_of(AggregateStep::Retract),
                "__ferry_udaf_retract",
                row_step(retract, &columns),
            )
        });
    let merge_export = export(
        &export_of(AggregateStep::Merge),
        "__ferry_udaf_merge",
        quote! {
            #groups
            for __ferry_partial in ::ferry::__private::partial_states::<#self_ty>(__ferry_columns)? {
                let (__ferry_row, #other) = __ferry_partial?;
                #group_state
                __ferry_agg.merge(#(#merge_args),*);
            }
            ::ferry::__private::write_states(&__ferry_aggs)
        },
    );
    let finish_export = export(
        &export_of(AggregateStep::Finish),
        "__ferry_udaf_finish",
        quote! {
            let _ = __ferry_columns;
            let mut __ferry_out = ::ferry::batch::ColumnBuilder::new(
                <#returned_inner as ::ferry::batch::ToColumn>::TYPE,
                __ferry_aggs.len(),
            );
            for __ferry_agg in __ferry_aggs {
                #push
            }
            ::core::result::Result::Ok(__ferry_out)
        },
    );
    Ok(emit(
        &block,
        &record,
        quote! {
            #update_export
            #retract_export
            #merge_export
            #finish_export
        },
    ))
}

/// Whether a return type is spelled `Result<..>` (an `update` that can fail).
fn is_unit_result(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if is_result(ty))
}

/// `ApproxPercentile` becomes `approx_percentile`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The parameters, each marked as the environment (named `env`) or not.
fn typed_params(sig: &syn::Signature) -> syn::Result<Vec<Param>> {
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
