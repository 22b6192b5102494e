//! Every `#[lazy]` form and option, compiled and run.
use coldstart::lazy;
use coldstart::lazy::{During, Form, State};

pub struct Rules(Vec<u32>);

#[derive(Debug, PartialEq)]
pub struct DbError(&'static str);

/// A doc comment, forwarded to the static.
#[lazy]
#[allow(clippy::redundant_closure)]
static RULES: Rules = Rules((0..10).collect());

#[lazy(name = "crate-visible")]
pub(crate) static VISIBLE: String = "visible".to_owned();

#[lazy(async, prewarm)]
pub static CLIENT: String = async { String::from("client") };

#[lazy(fallible)]
static POOL: Result<Vec<u8>, DbError> = Ok(vec![1, 2, 3]);

#[lazy(fallible, name = "broken")]
static BROKEN: Result<u8, DbError> = Err(DbError("down"));

#[lazy(async, fallible, prewarm, name = "async-pool")]
static ASYNC_POOL: std::result::Result<u64, DbError> = async { Ok(7) };

#[lazy(r#async)]
static RAW: u8 = async { 1 };

#[lazy(after_first_response, name = "routes")]
static ROUTES: Vec<u32> = vec![1];

mod nested {
    #[coldstart::lazy(crate = "::coldstart")]
    pub static INSIDE: u8 = 3;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(RULES.0.len(), 10);
    assert_eq!(coldstart::lazy::Lazy::force(&RULES).0[9], 9);
    assert_eq!(*VISIBLE, "visible");
    assert_eq!(POOL.get().map(Vec::len), Ok(3));
    assert_eq!(BROKEN.get(), Err(DbError("down")));
    assert_eq!(*nested::INSIDE, 3);

    let prewarmed = coldstart::prewarm().await;
    let mut initialized = prewarmed.initialized.clone();
    initialized.sort_unstable();
    assert_eq!(initialized, ["CLIENT", "async-pool"]);
    assert!(prewarmed.is_ok());
    assert_eq!(CLIENT.get().await, "client");
    assert_eq!(ASYNC_POOL.get().await, Ok(&7));
    assert_eq!(*RAW.get().await, 1);

    let report = coldstart::lazy::statics();
    assert_eq!(report.lazies.len(), 9, "{report}");
    let client = report.get("CLIENT").unwrap();
    let routes = report.get("routes").unwrap();
    assert!(routes.after_first_response && !routes.prewarm);
    assert!(!client.after_first_response);
    assert_eq!(ROUTES.len(), 1);
    assert_eq!((client.form, client.during), (Form::Async, Some(During::Prewarm)));
    assert_eq!(report.get("broken").unwrap().state, State::Failed { failures: 1 });
    assert_eq!(report.get("crate-visible").unwrap().module_path, module_path!());
    // Without `name = "…"`, the label is the module path below the crate root and the identifier.
    assert_eq!(report.get("nested::INSIDE").unwrap().module_path, concat!(module_path!(), "::nested"));
    assert_eq!(report.get("async-pool").unwrap().form, Form::AsyncFallible);
}
