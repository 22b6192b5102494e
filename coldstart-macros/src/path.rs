//! The path generated code uses to reach the runtime crate.

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// `::coldstart` unless the user overrode it with `crate = "..."`.
pub(crate) fn default_crate_path() -> TokenStream {
    quote_spanned!(Span::call_site()=> ::coldstart)
}
