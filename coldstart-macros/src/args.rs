//! Parsing of `key = "value"` and flag (`prewarm`) attribute arguments, shared by the attribute
//! macros.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

use crate::diagnostics::Errors;

/// What an argument looks like.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `key = "value"`.
    Value,
    /// A bare word: `prewarm`.
    Flag,
}

/// One argument: `key = "value"`, or a bare `key` (a flag).
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: Option<LitStr>,
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `Ident::parse_any` accepts keywords, so `crate = "..."` and `async` parse like any
        // other key.
        let key = Ident::parse_any(input)?;
        if !input.peek(Token![=]) {
            return Ok(Arg { key, value: None });
        }
        input.parse::<Token![=]>()?;
        let value = input.parse::<LitStr>().map_err(|err| {
            syn::Error::new(
                err.span(),
                format!("expected a string literal, like `{key} = \"...\"`"),
            )
        })?;
        Ok(Arg {
            key,
            value: Some(value),
        })
    }
}

/// Parses a comma-separated argument list, checking every key against `allowed` and its kind.
///
/// Returns the arguments that parsed and pushes every mistake to `errors`, so that the caller can
/// expand with what it has and still report every mistake at once.
pub(crate) fn parse(
    tokens: TokenStream,
    allowed: &[(&str, Kind)],
    errors: &mut Errors,
) -> Vec<Arg> {
    let parsed = match Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(parsed) => parsed,
        Err(err) => {
            errors.push(err);
            return Vec::new();
        }
    };
    let mut args: Vec<Arg> = Vec::new();
    for arg in parsed {
        let key = arg.key.unraw().to_string();
        let kind = allowed
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, kind)| *kind);
        if kind.is_none() {
            let expected = allowed
                .iter()
                .map(|(k, _)| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("unknown argument `{key}`; expected one of: {expected}"),
            ));
        } else if kind == Some(Kind::Value) && arg.value.is_none() {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("expected `{key} = \"...\"`"),
            ));
        } else if let (Some(Kind::Flag), Some(value)) = (kind, &arg.value) {
            errors.push(syn::Error::new(
                value.span(),
                format!("`{key}` takes no value: write `{key}` alone"),
            ));
        } else if args.iter().any(|seen| seen.key.unraw() == key) {
            errors.push(syn::Error::new(
                arg.key.span(),
                format!("duplicate argument `{key}`"),
            ));
        } else {
            args.push(arg);
        }
    }
    args
}

/// The value of `key`, if given.
pub(crate) fn get<'a>(args: &'a [Arg], key: &str) -> Option<&'a LitStr> {
    args.iter()
        .find(|arg| arg.key.unraw() == key)
        .and_then(|arg| arg.value.as_ref())
}

/// The flag `key`, if given.
pub(crate) fn flag<'a>(args: &'a [Arg], key: &str) -> Option<&'a Ident> {
    args.iter()
        .find(|arg| arg.key.unraw() == key)
        .map(|arg| &arg.key)
}

/// Parses `crate = "..."` into a path, keeping the literal's span on error.
pub(crate) fn crate_path(lit: &LitStr) -> syn::Result<TokenStream> {
    let path: syn::Path = lit.parse().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "`crate` must be a path to the coldstart crate, like `crate = \"::coldstart\"`; found {:?}",
                lit.value()
            ),
        )
    })?;
    Ok(quote::quote_spanned!(Span::call_site()=> #path))
}
