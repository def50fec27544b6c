//! How the parameters and result of a SQL function map onto columns.

use ferry_abi::batch::ColumnType;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::Type;
use syn::spanned::Spanned;

use crate::parse::{Param, generic_argument, type_name};

/// How a parameter or result of a UDF maps onto a column.
pub struct ColumnSlot {
    /// The column type, by ABI name.
    pub column_type: ColumnType,
    /// The Rust type read or written per row (without `Option`).
    pub inner: Type,
    /// Whether nulls reach the function (`Option<T>`) rather than
    /// propagating.
    pub nullable: bool,
}

impl ColumnSlot {
    /// Binds `__ferry_out`, a builder for `rows` rows of this column.
    pub fn new_output(&self, rows: TokenStream2) -> TokenStream2 {
        let inner = &self.inner;
        quote! {
            let mut __ferry_out = ::ferry::batch::ColumnBuilder::new(
                <#inner as ::ferry::batch::ToColumn>::TYPE,
                #rows,
            );
        }
    }

    /// Appends `value` to `__ferry_out`: an `Option` for a nullable column.
    pub fn push_output(&self, value: TokenStream2) -> TokenStream2 {
        let inner = &self.inner;
        if self.nullable {
            quote!(__ferry_out.push::<#inner>(#value);)
        } else {
            quote!(__ferry_out.push_value::<#inner>(#value);)
        }
    }
}

/// The column a parameter or result of type `ty` is.
pub fn column_slot(ty: &Type) -> syn::Result<ColumnSlot> {
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

/// The argument columns of a row function: every parameter but the
/// environment.
pub fn input_columns(params: &[Param]) -> syn::Result<Vec<ColumnSlot>> {
    params
        .iter()
        .filter(|p| !p.is_env)
        .map(|p| column_slot(&p.ty))
        .collect()
}

/// The columns' types, in order.
pub fn column_types(slots: &[ColumnSlot]) -> Vec<ColumnType> {
    slots.iter().map(|slot| slot.column_type).collect()
}
