//! `#[ferry::udaf]`: a type's `init`, `update`, `merge`, `finish` (and
//! `retract`) made a SQL aggregate function, one export per step.

use ferry_abi::FunctionRecord;
use ferry_abi::batch::{AggregateStep, ColumnType};
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use crate::column::{ColumnSlot, column_slot, column_types, input_columns};
use crate::export::{batch_export, call_args, emit};
use crate::handle::{Closure, maker, module_path};
use crate::parse::{Options, Param, is_result, type_name, typed_params};
use crate::row_loop::RowLoop;

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

/// The `impl` block and an export for each step, with the record.
pub fn expand(options: Options, block: syn::ItemImpl) -> syn::Result<TokenStream2> {
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
    let name = options.name_or(|| snake_case(&type_name(self_ty)));

    let columns = input_columns(&update.params)?;
    let retract_columns = retract
        .as_ref()
        .map(|retract| input_columns(&retract.params))
        .transpose()?;
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
    let mut record = FunctionRecord::aggregate(
        &name,
        &column_types(&columns),
        result.column_type,
        env.map(type_name).as_deref(),
    );
    record.retract = retract.is_some();
    record.kept = true;

    let init_args = call_args(&init.params, &[]);
    let init_state = quote!(|| <#self_ty>::init(#(#init_args),*));
    // The states of the call's groups, those without one yet fresh from
    // `init`; after them, the columns the step takes.
    let states = quote! {
        let (__ferry_states, __ferry_columns) = ::ferry::__private::split_states(__ferry_columns)?;
        #[allow(unused_mut)]
        let mut __ferry_aggs: ::std::vec::Vec<#self_ty> =
            ::ferry::__private::read_states(__ferry_states, #init_state)?;
    };
    // The group of each row, and the columns after it.
    let groups = quote! {
        let (__ferry_groups, __ferry_columns) =
            ::ferry::__private::split_groups(__ferry_columns, __ferry_aggs.len())?;
    };
    // The same, for states the guest keeps: a group it has not seen yet
    // starts from `init`.
    let kept_groups = quote! {
        let (__ferry_groups, __ferry_columns) =
            ::ferry::__private::kept_groups(__ferry_columns, __ferry_aggs, #init_state)?;
    };
    let new_states = quote!(::ferry::__private::write_states(__ferry_aggs.iter()));
    let kept_count = quote!(::core::result::Result::Ok(::ferry::__private::kept_count(
        __ferry_aggs.len()
    )));
    // The state of the row's group.
    let group_state = quote! {
        let __ferry_agg = &mut __ferry_aggs[__ferry_groups[__ferry_row] as usize];
    };

    // Update and retract: each row into (or out of) its group's state.
    let row_step =
        |step: &Step, columns: &[ColumnSlot], groups: &TokenStream2, end: &TokenStream2| {
            let rows = RowLoop::new(columns);
            let method = &step.method.sig.ident;
            let args = call_args(&step.params, &rows.value_vars);
            let call = quote!(__ferry_agg.#method(#(#args),*));
            let call = if is_unit_result(&step.method.sig.output) {
                quote!(#group_state ::ferry::__private::row_result(__ferry_row, #call)?;)
            } else {
                quote!(#group_state #call;)
            };
            let setup = rows.setup();
            let run = rows.run(quote!(), call, None);
            quote! {
                #groups
                #setup
                #run
                #end
            }
        };

    let other = format_ident!("__ferry_other");
    let merge_args = call_args(&merge.params, std::slice::from_ref(&other));
    let merge_step = |groups: &TokenStream2, end: &TokenStream2| {
        quote! {
            #groups
            for __ferry_partial in ::ferry::__private::partial_states::<#self_ty>(__ferry_columns)? {
                let (__ferry_row, #other) = __ferry_partial?;
                #group_state
                __ferry_agg.merge(#(#merge_args),*);
            }
            #end
        }
    };
    let finish_args = call_args(&finish.params, &[]);
    let push = result.push_output(quote!(__ferry_agg.finish(#(#finish_args),*)));

    // Each step is one batch-convention export. The plain steps start from
    // the states the host passes; the kept ones from those the guest keeps.
    let any_export = |step: AggregateStep, body: TokenStream2| {
        let ident = format!("__ferry_udaf{}", step.suffix());
        batch_export(&record.step_export(step), &ident, env, body)
    };
    let export = |step, body| any_export(step, quote!(#states #body));
    let kept_export = |step, body| {
        any_export(
            step,
            quote!(__FERRY_KEPT.with_borrow_mut(|__ferry_aggs| { #body })),
        )
    };
    let update_export = export(
        AggregateStep::Update,
        row_step(&update, &columns, &groups, &new_states),
    );
    let retract_export = retract
        .as_ref()
        .zip(retract_columns)
        .map(|(retract, columns)| {
            export(
                AggregateStep::Retract,
                row_step(retract, &columns, &groups, &new_states),
            )
        });
    let merge_export = export(AggregateStep::Merge, merge_step(&groups, &new_states));
    let finish_output = result.new_output(quote!(__ferry_aggs.len()));
    let finish_export = export(
        AggregateStep::Finish,
        quote! {
            let _ = __ferry_columns;
            #finish_output
            for __ferry_agg in __ferry_aggs {
                #push
            }
            ::core::result::Result::Ok(__ferry_out)
        },
    );
    let kept_update = kept_export(
        AggregateStep::KeptUpdate,
        row_step(&update, &columns, &kept_groups, &kept_count),
    );
    let kept_merge = kept_export(
        AggregateStep::KeptMerge,
        merge_step(&kept_groups, &kept_count),
    );
    let kept_output = result.new_output(quote!(__ferry_named.len()));
    let kept_finish = kept_export(
        AggregateStep::KeptFinish,
        quote! {
            let __ferry_named = ::ferry::__private::kept_named(__ferry_columns, __ferry_aggs, #init_state)?;
            #kept_output
            for __ferry_group in __ferry_named {
                let __ferry_agg = ::core::mem::replace(&mut __ferry_aggs[__ferry_group as usize], (#init_state)());
                #push
            }
            ::core::result::Result::Ok(__ferry_out)
        },
    );
    let kept_states = kept_export(
        AggregateStep::KeptStates,
        quote! {
            let __ferry_named = ::ferry::__private::kept_named(__ferry_columns, __ferry_aggs, #init_state)?;
            ::ferry::__private::write_states(__ferry_named.iter().map(|&__ferry_group| &__ferry_aggs[__ferry_group as usize]))
        },
    );
    let kept_drop = kept_export(
        AggregateStep::KeptDrop,
        quote!(::ferry::__private::kept_drop(__ferry_columns, __ferry_aggs)),
    );
    let exports = quote! {
        // The states of a query's groups, which a host may leave here
        // between calls (the kept steps). WebAssembly guests run one
        // thread.
        ::std::thread_local! {
            static __FERRY_KEPT: ::core::cell::RefCell<::std::vec::Vec<#self_ty>> =
                const { ::core::cell::RefCell::new(::std::vec::Vec::new()) };
        }
        #update_export
        #retract_export
        #merge_export
        #finish_export
        #kept_update
        #kept_merge
        #kept_finish
        #kept_states
        #kept_drop
    };
    let mut expanded = emit(&block, record, exports);
    // An aggregate's handle is on its type: `guest::GeoMean::closure()`.
    if let Some(module_path) = module_path() {
        let maker = match module_path {
            Ok(path) => maker(&path, &name, env, Closure::Sql),
            Err(error) => error,
        };
        expanded.extend(quote! {
            #[cfg(not(target_family = "wasm"))]
            #[allow(dead_code)]
            impl #self_ty {
                #maker
            }
        });
    }
    Ok(expanded)
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
