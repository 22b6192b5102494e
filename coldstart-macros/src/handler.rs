//! `#[cold_start_handler]`: wraps a handler's body in invocation tracking.
//!
//! For `async fn name(args) -> Ret { body }` the expansion is
//!
//! ```text
//! async fn name(args) -> Ret {
//!     static __COLDSTART_HANDLER: ::coldstart::__private::Handler =
//!         ::coldstart::__private::Handler::new("name");
//!     let mut __coldstart_invocation = __COLDSTART_HANDLER.begin();
//!     let __coldstart_output: Ret =
//!         __coldstart_invocation.within(async move { /* fake return edge */ body }).await;
//!     __coldstart_invocation.set_outcome(::coldstart::__private::Probe(&__coldstart_output).outcome());
//!     __coldstart_output
//! } // the invocation is recorded here, when dropped
//! ```
//!
//! The signature is untouched, the body runs in place (nothing boxed, no bounds added), so the
//! future is `Send` exactly when the user's body is. The `let` annotation is the "return edge"
//! that keeps `?` and inference working inside the inner block; it is left out when the return
//! type contains `impl Trait`. `within` polls the body as this invocation's code (a lazy static
//! it builds is attributed to this invocation even when another began since). A plain `fn` runs
//! its body in a `move` closure passed to `__coldstart_invocation.run(..)` instead, and its value goes through `__private::check_sync_return`, which refuses
//! (at compile time, on the return type) a value that is a future: such a `fn` would be timed
//! only while it builds the future, and always count as a success. Panics unwind through the invocation guard, which records them and lets the
//! unwinding continue.
//!
//! `#[lazy]` statics declared in the body (directly, or in any block nested in it) are expanded
//! by this macro with the handler's crate path (see [`crate::lazy`](mod@crate::lazy)), so the body needs no
//! `use coldstart::lazy` for them. Only a bare `#[lazy]` path is taken; `#[coldstart::lazy]`
//! expands by itself.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::visit::Visit;
use syn::visit_mut::{self, VisitMut};
use syn::{Ident, Item, ItemFn, LitStr, ReturnType, Stmt, Type};

use crate::args::HandlerArgs;
use crate::diagnostics::{item_keyword_span, outer_spans, respan, Errors};
use crate::path::default_crate_path;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match check_item(&item) {
        Ok(function) => function,
        Err(shape_error) => {
            // The item cannot be instrumented: emit it untouched so the user sees only this error
            // (and any mistakes in the arguments).
            let mut errors = Errors::from(shape_error);
            HandlerArgs::parse(args, &mut errors);
            return errors.emit(item);
        }
    };
    let mut errors = Errors::default();
    let args = HandlerArgs::parse(args, &mut errors);
    let name = args.name.resolve(&function.sig.ident, &mut errors);
    let krate = args.krate.resolve(&default_crate_path(), &mut errors);
    let budget_ms = match args.budget.as_ref().map(parse_budget) {
        Some(Ok(ms)) => Some(ms),
        Some(Err(err)) => {
            errors.push(err);
            None
        }
        None => None,
    };

    // `#[lazy]` statics in the body are expanded here, so the body needs no `use` for them.
    let mut function = function;
    LazyStatics { krate: &krate }.visit_block_mut(&mut function.block);

    // Argument mistakes still expand (with defaults), so the handler keeps type-checking and IDE
    // completion keeps working; the errors are appended.
    errors.emit(instrument(function, &name, budget_ms, &krate))
}

/// Accepts a fn with a body that can be timed at run time; everything else is a spanned error.
fn check_item(item: &TokenStream) -> syn::Result<ItemFn> {
    let function = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(Item::Verbatim(tokens)) if looks_like_fn(&tokens) => {
            return Err(syn::Error::new_spanned(
                tokens,
                "`#[cold_start_handler]` needs a function with a body",
            ))
        }
        Ok(other) => {
            return Err(syn::Error::new(
                item_keyword_span(&other),
                "`#[cold_start_handler]` can only be applied to a function",
            ))
        }
        Err(err) => return Err(err),
    };
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            "`#[cold_start_handler]` cannot be applied to a `const fn`: timing an invocation happens at run time",
        ));
    }
    if let Some(abi) = &function.sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            "`#[cold_start_handler]` cannot be applied to an `extern` fn: a Lambda handler is a Rust fn or async fn",
        ));
    }
    if let Some(variadic) = &function.sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "`#[cold_start_handler]` cannot be applied to a variadic fn",
        ));
    }
    Ok(function)
}

fn looks_like_fn(tokens: &TokenStream) -> bool {
    tokens
        .clone()
        .into_iter()
        .any(|token| matches!(&token, proc_macro2::TokenTree::Ident(ident) if ident == "fn"))
}

/// `budget = "100ms"` / `"1.5s"` / `"250 ms"` into whole milliseconds, spanned on the literal.
fn parse_budget(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let trimmed = text.trim();
    let (number, scale) = if let Some(ms) = trimmed.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = trimmed.strip_suffix('s') {
        (s, 1000.0)
    } else {
        ("", 0.0)
    };
    match number.trim().parse::<f64>() {
        Ok(value) if scale > 0.0 && value.is_finite() => {
            let ms = (value * scale).round();
            if (1.0..=3_600_000.0).contains(&ms) {
                return Ok(ms as u64);
            }
            Err(syn::Error::new(
                lit.span(),
                "`budget` must be between 1 ms and 1 hour",
            ))
        }
        _ => Err(syn::Error::new(
            lit.span(),
            format!("`budget` must be a duration like \"100ms\" or \"1.5s\"; found {text:?}"),
        )),
    }
}

fn instrument(
    function: ItemFn,
    name: &LitStr,
    budget_ms: Option<u64>,
    krate: &TokenStream,
) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let invocation = Ident::new("__coldstart_invocation", Span::mixed_site());
    let output = Ident::new("__coldstart_output", Span::mixed_site());
    // The declared return type, unless it mentions `impl Trait` (not allowed in a `let`).
    let return_type: Option<TokenStream> = match &sig.output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => None,
        ReturnType::Type(_, ty) => Some(ty.to_token_stream()),
    };
    let let_type = return_type.as_ref().map(|ty| quote!(: #ty));
    let run_body = if sig.asyncness.is_some() {
        // The fake return edge (as in tracing-attributes) fixes the async block's output type
        // before the body is checked, so a type error points at the user's expression rather
        // than at the attribute, and `?` knows which error type to convert into.
        let fake_return = return_type.as_ref().map(|ty| {
            let fake = Ident::new("__coldstart_fake_return", Span::mixed_site());
            quote! {
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
                if false {
                    let #fake: #ty = loop {};
                    return #fake;
                }
            }
        });
        quote!(#invocation.within(async move { #fake_return #block }).await)
    } else {
        let closure_return = return_type.as_ref().map(|ty| quote!(-> #ty));
        quote!(#invocation.run(move || #closure_return #block))
    };
    let call_site = Span::call_site();
    let budget = budget_ms.map(|ms| {
        quote_spanned! {call_site=>
            .with_budget(#krate::__private::Duration::from_millis(#ms))
        }
    });
    // A plain `fn` is timed until it returns: refuse one whose return value is a future.
    let refuse_future = match (&sig.asyncness, &sig.output) {
        (None, ReturnType::Type(_, ty)) => Some(refuse_future(ty, &output, krate)),
        _ => None,
    };
    let setup = quote_spanned! {call_site=>
        static __COLDSTART_HANDLER: #krate::__private::Handler =
            #krate::__private::Handler::new(#name)#budget;
        let mut #invocation = __COLDSTART_HANDLER.begin();
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #setup
            #[allow(clippy::let_unit_value, clippy::redundant_closure_call)]
            let #output #let_type = #run_body;
            #refuse_future
            // Recorded when the invocation is dropped, right after this (not moved: in an
            // `async fn` a move is a copy out of the future's state).
            #invocation.set_outcome(#krate::__private::Probe(&#output).outcome());
            #output
        }
    }
}

/// `check_sync_return(SyncReturn(&output).kind());`, which fails to compile when the value a
/// plain `fn` returns is a future (see `coldstart::__private::SyncReturn`). The tested
/// expression opens on the first token of the declared return type and closes on its last, so
/// the error underlines the whole return type.
fn refuse_future(ty: &Type, output: &Ident, krate: &TokenStream) -> TokenStream {
    let (first, last) = outer_spans(ty);
    let private = respan(quote!(#krate::__private), first);
    let mut kind_arguments = Group::new(Delimiter::Parenthesis, TokenStream::new());
    kind_arguments.set_span(last);
    quote_spanned! {first=>
        #private::check_sync_return(#private::SyncReturn(&#output).kind #kind_arguments);
    }
}

/// Rewrites `#[lazy]` statics (and mistaken `#[lazy]` consts) declared in a block or any block
/// nested in it.
struct LazyStatics<'a> {
    krate: &'a TokenStream,
}

impl VisitMut for LazyStatics<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        visit_mut::visit_block_mut(self, block);
        for stmt in &mut block.stmts {
            let Stmt::Item(item) = stmt else { continue };
            let attrs = match item {
                Item::Static(item) => &mut item.attrs,
                Item::Const(item) => &mut item.attrs,
                _ => continue,
            };
            let Some(position) = attrs.iter().position(crate::lazy::is_lazy_attribute) else {
                continue;
            };
            let attr = attrs.remove(position);
            let taken = std::mem::replace(item, Item::Verbatim(TokenStream::new()));
            *item = Item::Verbatim(crate::lazy::expand_in_handler(&attr, taken, self.krate));
        }
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}
