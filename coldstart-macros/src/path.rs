//! The path generated code uses to reach the runtime crate: `::coldstart`, or what the user
//! wrote in `crate = "..."`.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::LitStr;

use crate::diagnostics::Errors;

/// `::coldstart`, the path used when nothing overrides it.
pub(crate) fn default_crate_path() -> TokenStream {
    quote_spanned!(Span::call_site()=> ::coldstart)
}

/// The `crate = "..."` argument, if given.
#[derive(Default)]
pub(crate) struct CratePath(Option<LitStr>);

impl CratePath {
    pub(crate) fn new(lit: LitStr) -> Self {
        CratePath(Some(lit))
    }

    /// The path from `crate = "..."`, or `fallback` when it is not given. A literal that is not a
    /// path is an error (spanned on the literal) and also gives `fallback`, so the expansion
    /// still type-checks.
    pub(crate) fn resolve(&self, fallback: &TokenStream, errors: &mut Errors) -> TokenStream {
        let Some(lit) = &self.0 else {
            return fallback.clone();
        };
        match lit.parse::<syn::Path>() {
            Ok(path) => quote_spanned!(Span::call_site()=> #path),
            Err(_) => {
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "`crate` must be a path to the coldstart crate, like `crate = \"::coldstart\"`; found {:?}",
                        lit.value()
                    ),
                ));
                fallback.clone()
            }
        }
    }
}
