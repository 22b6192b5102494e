//! The attributes' arguments, parsed once into typed structs ([`HandlerArgs`], [`LazyArgs`]);
//! the expansions read their fields. The name and the crate path are the same types in both.
//!
//! Parsing never fails as a whole: every mistake is pushed to the caller's [`Errors`] and the
//! argument is left out, so the caller expands with defaults and appends the errors.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

use crate::diagnostics::Errors;
use crate::path::CratePath;

/// `#[cold_start_handler(name = "...", budget = "...", crate = "...")]`.
#[derive(Default)]
pub(crate) struct HandlerArgs {
    pub(crate) name: Name,
    /// `budget = "100ms"`, checked by the handler expansion.
    pub(crate) budget: Option<LitStr>,
    pub(crate) krate: CratePath,
}

impl HandlerArgs {
    const KEYS: &'static [Key<Self>] = &[
        Key::value("name", |args, lit| args.name = Name(Some(lit))),
        Key::value("budget", |args, lit| args.budget = Some(lit)),
        Key::value("crate", |args, lit| args.krate = CratePath::new(lit)),
    ];

    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        parse_list(tokens, Self::KEYS, errors)
    }
}

/// `#[lazy(async, fallible, prewarm, after_first_response, name = "...", crate = "...")]`.
#[derive(Default)]
pub(crate) struct LazyArgs {
    pub(crate) form: Form,
    /// `prewarm`: initialize during prewarm.
    pub(crate) prewarm: bool,
    /// `after_first_response`: built after the first response (`coldstart::lambda`).
    pub(crate) after_first_response: bool,
    pub(crate) name: Name,
    pub(crate) krate: CratePath,
}

impl LazyArgs {
    const KEYS: &'static [Key<Self>] = &[
        Key::value("name", |args, lit| args.name = Name(Some(lit))),
        Key::flag("prewarm", |args| args.prewarm = true),
        Key::flag("after_first_response", |args| {
            args.after_first_response = true
        }),
        Key::flag("async", |args| args.form.is_async = true),
        Key::flag("fallible", |args| args.form.fallible = true),
        Key::value("crate", |args, lit| args.krate = CratePath::new(lit)),
    ];

    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        parse_list(tokens, Self::KEYS, errors)
    }
}

/// Which of the four lazy forms: `#[lazy]`, `(async)`, `(fallible)` or `(async, fallible)`.
#[derive(Default, Clone, Copy)]
pub(crate) struct Form {
    pub(crate) is_async: bool,
    pub(crate) fallible: bool,
}

/// The `name = "..."` argument, if given.
#[derive(Default)]
pub(crate) struct Name(Option<LitStr>);

impl Name {
    /// The given name, or the item's own name `ident` (unraw'd, spanned on it) when none is given.
    /// An empty name is an error and also gives the item's own name.
    pub(crate) fn resolve(&self, ident: &Ident, errors: &mut Errors) -> LitStr {
        self.given(errors)
            .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()))
    }

    /// The given name, if any and not empty (an empty one is an error, and counts as none).
    pub(crate) fn given(&self, errors: &mut Errors) -> Option<LitStr> {
        match &self.0 {
            Some(lit) if lit.value().is_empty() => {
                errors.push(syn::Error::new(lit.span(), "`name` must not be empty"));
                None
            }
            Some(lit) => Some(lit.clone()),
            None => None,
        }
    }
}

/// One accepted key of an argument list and how it sets its field.
struct Key<A> {
    name: &'static str,
    set: Set<A>,
}

enum Set<A> {
    /// `key = "value"`.
    Value(fn(&mut A, LitStr)),
    /// A bare word: `prewarm`.
    Flag(fn(&mut A)),
}

impl<A> Key<A> {
    const fn value(name: &'static str, set: fn(&mut A, LitStr)) -> Self {
        Key {
            name,
            set: Set::Value(set),
        }
    }

    const fn flag(name: &'static str, set: fn(&mut A)) -> Self {
        Key {
            name,
            set: Set::Flag(set),
        }
    }
}

/// One argument as written: `key = "value"`, or a bare `key` (a flag).
struct Arg {
    key: Ident,
    value: Option<LitStr>,
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

/// Parses a comma-separated argument list into `A`, checking every key against `keys` and its
/// kind. A list that does not parse gives `A::default()`; a key that is unknown, of the wrong
/// kind or repeated is left out. Every mistake is pushed to `errors`.
fn parse_list<A: Default>(tokens: TokenStream, keys: &[Key<A>], errors: &mut Errors) -> A {
    let mut args = A::default();
    let parsed = match Punctuated::<Arg, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(parsed) => parsed,
        Err(err) => {
            errors.push(err);
            return args;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for Arg { key: ident, value } in parsed {
        let key = ident.unraw().to_string();
        let Some(known) = keys.iter().find(|known| known.name == key) else {
            let expected = keys
                .iter()
                .map(|known| format!("`{}`", known.name))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = closest(&key, keys.iter().map(|known| known.name))
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            errors.push(syn::Error::new(
                ident.span(),
                format!("unknown argument `{key}`{hint}; expected one of: {expected}"),
            ));
            continue;
        };
        match (&known.set, value) {
            (Set::Value(_), None) => errors.push(syn::Error::new(
                ident.span(),
                format!("expected `{key} = \"...\"`"),
            )),
            (Set::Flag(_), Some(value)) => errors.push(syn::Error::new(
                value.span(),
                format!("`{key}` takes no value: write `{key}` alone"),
            )),
            _ if seen.contains(&key) => errors.push(syn::Error::new(
                ident.span(),
                format!("duplicate argument `{key}`"),
            )),
            (Set::Value(set), Some(value)) => {
                set(&mut args, value);
                seen.push(key);
            }
            (Set::Flag(set), None) => {
                set(&mut args);
                seen.push(key);
            }
        }
    }
    args
}

/// The known key nearest to `key` when it is a likely misspelling: at most two single-character
/// edits (insert, delete, substitute, or swap two neighbours) and fewer than half its length.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    known
        .map(|name| (edits(key, name), name))
        .filter(|(distance, name)| *distance <= 2 && *distance * 2 < name.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Optimal string alignment distance between `a` and `b`.
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
