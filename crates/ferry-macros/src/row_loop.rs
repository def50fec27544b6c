//! The loop over a batch's rows that scalar and aggregate functions share.

use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, format_ident, quote};

use crate::column::{ColumnSlot, column_types};

/// The loop over a batch's rows that both scalar and aggregate functions
/// run: each row's values read into `value_vars`, with a fast loop when no
/// column has nulls.
pub struct RowLoop<'a> {
    slots: &'a [ColumnSlot],
    column_vars: Vec<syn::Ident>,
    /// The variables holding a row's values, one per column.
    pub value_vars: Vec<syn::Ident>,
}

impl<'a> RowLoop<'a> {
    /// A loop over the columns of `slots`, in order.
    pub fn new(slots: &'a [ColumnSlot]) -> RowLoop<'a> {
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

    /// Checks `__ferry_columns` against the slots' types and binds the
    /// columns and `__ferry_rows`.
    pub fn setup(&self) -> TokenStream2 {
        let tags: Vec<u32> = column_types(self.slots)
            .into_iter()
            .map(|t| t as u32)
            .collect();
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
    pub fn zipped(&self) -> Option<(TokenStream2, TokenStream2)> {
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
    pub fn run(
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
