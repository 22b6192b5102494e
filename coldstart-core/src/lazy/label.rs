//! The default `lazy` label of a static declared without `name = "…"`: the module path below the
//! crate root joined with the static's identifier (`orders::TABLE`; just `TABLE` at the crate
//! root). Not public API: the `#[lazy]` expansion calls [`default_label!`](crate::__private::default_label)
//! and the macro calls the `const fn`s here.
//!
//! The label is built at compile time, from `module_path!()`: it costs nothing at run time, is a
//! `&'static str` like an explicit name (so the metric label, the list of statics and the report
//! all use the same string), and comes from source only, so the set of labels stays bounded.
//! The crate name is left out to keep labels short; the report shows the full module path.

/// The `lazy` label of a static named `$ident` (a string literal) declared where the macro is
/// invoked. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __coldstart_default_label {
    ($ident:literal) => {{
        const __COLDSTART_LEN: usize =
            $crate::__private::default_label_len($crate::__private::module_path!(), $ident);
        const __COLDSTART_LABEL: [u8; __COLDSTART_LEN] =
            $crate::__private::default_label_bytes($crate::__private::module_path!(), $ident);
        $crate::__private::label_str(&__COLDSTART_LABEL)
    }};
}

/// `module_path` without its first segment (the crate name) and the `::` after it; empty at the
/// crate root.
const fn below_root(module_path: &str) -> &[u8] {
    let bytes = module_path.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b':' && bytes[i + 1] == b':' {
            return bytes.split_at(i + 2).1;
        }
        i += 1;
    }
    &[]
}

/// The length of the default label of `ident` declared in `module_path`.
#[doc(hidden)]
pub const fn default_label_len(module_path: &str, ident: &str) -> usize {
    match below_root(module_path).len() {
        0 => ident.len(),
        below => below + 2 + ident.len(),
    }
}

/// The default label of `ident` declared in `module_path`, as bytes; `N` is
/// [`default_label_len`].
#[doc(hidden)]
pub const fn default_label_bytes<const N: usize>(module_path: &str, ident: &str) -> [u8; N] {
    let below = below_root(module_path);
    let ident = ident.as_bytes();
    let mut label = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < below.len() {
        label[at] = below[i];
        at += 1;
        i += 1;
    }
    if !below.is_empty() {
        label[at] = b':';
        label[at + 1] = b':';
        at += 2;
    }
    i = 0;
    while i < ident.len() {
        label[at] = ident[i];
        at += 1;
        i += 1;
    }
    label
}

/// The label's bytes as text. They are UTF-8: whole identifiers joined by `::`.
#[doc(hidden)]
pub const fn label_str(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(label) => label,
        Err(_) => panic!("a `lazy` label is made of identifiers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The label through the same `const` steps as the macro, from any module path.
    macro_rules! label {
        ($module_path:literal, $ident:literal) => {{
            const LABEL: [u8; default_label_len($module_path, $ident)] =
                default_label_bytes($module_path, $ident);
            label_str(&LABEL)
        }};
    }

    #[test]
    fn the_module_path_below_the_crate_root_is_joined_with_the_identifier() {
        assert_eq!(label!("my_fn", "TABLE"), "TABLE");
        assert_eq!(label!("my_fn::orders", "TABLE"), "orders::TABLE");
        assert_eq!(label!("my_fn::orders::db", "POOL"), "orders::db::POOL");
    }

    #[test]
    fn the_macro_uses_the_module_it_is_invoked_in() {
        const HERE: &str = crate::__private::default_label!("HERE");
        assert_eq!(HERE, "lazy::label::tests::HERE");
    }
}
