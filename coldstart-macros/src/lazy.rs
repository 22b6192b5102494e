//! `#[lazy]`: turns `static NAME: T = expr;` into a timed, registered lazy static.
//!
//! For `#[lazy] static RULES: Rules = Rules::compile();` the expansion is
//!
//! ```text
//! static RULES: ::coldstart::__private::Lazy<Rules> = ::coldstart::__private::Lazy::new(
//!     ::coldstart::__private::default_label!("RULES"),
//!     ::coldstart::__private::module_path!(),
//!     false,
//!     || -> Rules { Rules::compile() },
//! );
//! ::coldstart::__private::inventory::submit! {
//!     ::coldstart::__private::Registration::new(|| &RULES)
//! }
//! ```
//!
//! `default_label!` builds the `lazy` label at compile time: the module path below the crate root
//! joined with the identifier (`orders::RULES`, or `RULES` at the crate root); with
//! `name = "…"` the literal is passed instead. The other forms differ only in the wrapper type (`AsyncLazy<T>`, `TryLazy<T, E>`,
//! `AsyncTryLazy<T, E>`) and, for `async`, the initializer, which is
//! `|| ::coldstart::__private::box_future::<T, _>(expr)` so that an expression that is not a
//! future is reported on the expression itself. The initializer captures nothing, so it coerces
//! to a `fn` pointer and the static stays const-constructible. The wrapper type carries the span
//! of the user's type, so a type that is not `Sync` is reported there by rustc itself.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, GenericArgument, Ident, Item, ItemConst, ItemStatic, LitStr, Meta,
    PathArguments, StaticMutability, Type, Visibility,
};

use crate::args::LazyArgs;
use crate::diagnostics::{item_keyword_span, outer_spans, respan, Errors};
use crate::path::default_crate_path;

/// The `#[lazy(...)]` attribute macro.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(parsed) => expand_item(args, parsed, &default_crate_path()),
        Err(err) => Errors::from(err).emit(item),
    }
}

/// A `#[lazy(...)]` static found inside a `#[cold_start_handler]` body: `attr` is the attribute
/// (already removed from the item), `krate` the handler's crate path.
pub(crate) fn expand_in_handler(attr: &Attribute, item: Item, krate: &TokenStream) -> TokenStream {
    let args = match &attr.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(name_value) => {
            let err =
                syn::Error::new_spanned(name_value, "expected `#[lazy]` or `#[lazy(option, ...)]`");
            return Errors::from(err).emit(item.into_token_stream());
        }
    };
    expand_item(args, item, krate)
}

/// `true` for an attribute that is `#[lazy]` or `#[lazy(...)]` (a bare `lazy`, which is what a
/// handler body may use without importing it).
pub(crate) fn is_lazy_attribute(attr: &Attribute) -> bool {
    attr.path().is_ident("lazy")
}

struct Static {
    attrs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    ty: Type,
    expr: Expr,
}

fn expand_item(args: TokenStream, item: Item, default_krate: &TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = LazyArgs::parse(args, &mut errors);

    // The item: a non-`mut` static. A `static mut` or a `const` is expanded as if it were one
    // (so the name still resolves and nothing else errors), with the error appended.
    let item = match item {
        Item::Static(ItemStatic {
            attrs,
            vis,
            mutability,
            ident,
            ty,
            expr,
            ..
        }) => {
            if let StaticMutability::Mut(mut_token) = mutability {
                errors.push(syn::Error::new_spanned(
                    mut_token,
                    "a `#[lazy]` static cannot be `mut`: it is initialized once and then shared; \
                     put a `Mutex` or an atomic inside it to change its contents",
                ));
            }
            Static {
                attrs,
                vis,
                ident,
                ty: *ty,
                expr: *expr,
            }
        }
        Item::Const(ItemConst {
            attrs,
            vis,
            const_token,
            ident,
            ty,
            expr,
            ..
        }) => {
            errors.push(syn::Error::new_spanned(
                const_token,
                "`#[lazy]` applies to a `static`, not a `const`: a `const` is inlined at every \
                 use, a lazy value must live in one place; write `static`",
            ));
            Static {
                attrs,
                vis,
                ident,
                ty: *ty,
                expr: *expr,
            }
        }
        other => {
            let err = syn::Error::new(
                item_keyword_span(&other),
                "`#[lazy]` can only be applied to a `static` item, like \
                 `#[lazy] static NAME: Type = expression;`",
            );
            errors.push(err);
            return errors.emit(other.into_token_stream());
        }
    };

    let given_name = args.name.given(&mut errors);
    let krate = args.krate.resolve(default_krate, &mut errors);
    // `name = "…"` verbatim; by default the module path below the crate root joined with the
    // identifier, built at compile time by `default_label!` (see `coldstart-core/src/lazy/label.rs`).
    let name = match given_name {
        Some(name) => name.into_token_stream(),
        None => {
            let ident = LitStr::new(&item.ident.unraw().to_string(), item.ident.span());
            quote!(#krate::__private::default_label!(#ident))
        }
    };
    let fallible = if args.form.fallible {
        let ok_err = result_arguments(&item.ty);
        if ok_err.is_none() {
            errors.push(syn::Error::new_spanned(
                &item.ty,
                "`#[lazy(fallible)]` needs the declared type spelled `Result<T, E>`: the \
                 initializer returns it, and the static holds the `T`",
            ));
        }
        ok_err
    } else {
        None
    };

    let expanded = lower(
        &item,
        &name,
        (args.prewarm, args.after_first_response),
        args.form.is_async,
        fallible,
        &krate,
    );
    errors.emit(expanded)
}

fn lower(
    item: &Static,
    name: &TokenStream,
    (prewarm, after_first_response): (bool, bool),
    is_async: bool,
    fallible: Option<(Type, Type)>,
    krate: &TokenStream,
) -> TokenStream {
    let Static {
        attrs,
        vis,
        ident,
        ty,
        expr,
    } = item;
    // Spanned on the user's type (its first token opens it, its last token closes it), so that
    // rustc's "cannot be shared between threads safely" (and any other error about the static's
    // type) points at that type.
    let (ty_span, ty_end) = outer_spans(ty);
    let expr_span = expr.span();
    let private = respan(quote!(#krate::__private), ty_span);
    let (wrapper, arguments) = match (is_async, &fallible) {
        (false, None) => (quote_spanned!(ty_span=> Lazy), quote!(#ty)),
        (true, None) => (quote_spanned!(ty_span=> AsyncLazy), quote!(#ty)),
        (false, Some((ok, err))) => (quote_spanned!(ty_span=> TryLazy), quote!(#ok, #err)),
        (true, Some((ok, err))) => (quote_spanned!(ty_span=> AsyncTryLazy), quote!(#ok, #err)),
    };
    let open = quote_spanned!(ty_span=> <);
    let close = quote_spanned!(ty_end=> >);
    let wrapper_type = quote_spanned!(ty_span=> #private::#wrapper #open #arguments #close);
    let init = if is_async {
        let private = respan(quote!(#krate::__private), expr_span);
        let boxed = quote_spanned!(expr_span=> #private::box_future::<#ty, _>(#expr));
        quote!(|| #boxed)
    } else {
        quote!(|| -> #ty { #expr })
    };
    // A `#[cfg]`'d-out static must not be registered either.
    let cfgs = attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
    let call_site = Span::call_site();
    quote_spanned! {call_site=>
        #(#attrs)*
        #vis static #ident: #wrapper_type = #krate::__private::#wrapper::new(
            #name,
            #krate::__private::module_path!(),
            #prewarm,
            #after_first_response,
            #init,
        );
        #(#cfgs)*
        #krate::__private::inventory::submit! {
            #krate::__private::Registration::new(|| &#ident)
        }
    }
}

/// `T` and `E` of a type written `Result<T, E>` (any path ending in `Result` with two type
/// arguments).
fn result_arguments(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = arguments
        .args
        .iter()
        .filter_map(|argument| match argument {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
        .collect();
    match (types.as_slice(), arguments.args.len()) {
        ([ok, err], 2) => Some(((*ok).clone(), (*err).clone())),
        _ => None,
    }
}
