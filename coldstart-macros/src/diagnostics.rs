//! The one place that turns mistakes into output: the error accumulator, the "item followed by
//! its errors" emission, and the span an error about an item's kind points at.
//!
//! Every diagnostic is emitted together with the user's item (untouched, or expanded with
//! defaults), never alone, so a mistake in the attribute does not turn into a cascade of
//! "cannot find value" errors elsewhere.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::Item;

/// Every mistake found so far, combined with [`syn::Error::combine`] so that all of them are
/// reported at once, in the order they were found.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds `error` after the ones already found.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `tokens` (the user's item, or its expansion) followed by every error found, if any.
    pub(crate) fn emit(self, tokens: TokenStream) -> TokenStream {
        match self.0 {
            Some(errors) => {
                let errors = errors.to_compile_error();
                quote!(#tokens #errors)
            }
            None => tokens,
        }
    }
}

impl From<syn::Error> for Errors {
    fn from(error: syn::Error) -> Self {
        Errors(Some(error))
    }
}

/// The span of the keyword that says what the item is (`fn`, `struct`, `static`, ...), falling
/// back to the whole item.
pub(crate) fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Const(i) => i.const_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::ExternCrate(i) => i.extern_token.span,
        Item::Fn(i) => i.sig.fn_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Macro(i) => i.mac.path.span(),
        Item::Mod(i) => i.mod_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Struct(i) => i.struct_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::TraitAlias(i) => i.trait_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Use(i) => i.use_token.span,
        other => other.span(),
    }
}

/// The spans of the first and the last token of `tokens`. An expression generated with its first
/// token on the one and its last token on the other is reported by rustc on all of `tokens`
/// (on stable, where a proc macro cannot join spans itself).
pub(crate) fn outer_spans(tokens: &impl ToTokens) -> (Span, Span) {
    let first = tokens.span();
    let last = tokens
        .to_token_stream()
        .into_iter()
        .last()
        .map_or(first, |token| token.span());
    (first, last)
}

/// Gives every token of `tokens` the span `span` (groups included).
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
