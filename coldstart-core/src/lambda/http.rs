//! The same wrapper for [`lambda_http`] handlers (feature `http`): API Gateway (REST and HTTP
//! APIs), Application Load Balancer and function URL events, as `http::Request`s.
//!
//! ```no_run
//! use lambda_http::{service_fn, Body, Error, Request, Response};
//!
//! async fn handler(request: Request) -> Result<Response<Body>, Error> {
//!     Ok(Response::new(format!("hello {}", request.uri().path()).into()))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     coldstart::lambda::http::run(service_fn(handler)).await
//! }
//! ```
//!
//! Warm-up pings are recognized before `lambda_http` tries to read them as an HTTP event (which
//! would fail: a ping is no API Gateway payload), so they are acknowledged instead of posted as
//! errors.

use std::fmt::Debug;

use lambda_http::{Adapter, IntoResponse, Request, Service};
use lambda_runtime::{Diagnostic, Error};

use super::Coldstart;

/// A drop-in for `lambda_http::run` with the default [`Coldstart`] configuration.
///
/// See the [module docs](self) for an example.
///
/// # Errors
///
/// What `lambda_http::run` returns.
pub async fn run<'a, R, S, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: IntoResponse,
    E: Debug + Into<Diagnostic>,
{
    Coldstart::new().run_http(handler).await
}

/// A drop-in for `lambda_http::run_concurrent` with the default [`Coldstart`] configuration
/// (features `http` and `concurrent`).
///
/// ```no_run
/// use lambda_http::{service_fn, Body, Error, Request, Response};
///
/// async fn handler(_: Request) -> Result<Response<Body>, Error> {
///     Ok(Response::new("ok".into()))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     coldstart::lambda::http::run_concurrent(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
///
/// What `lambda_http::run_concurrent` returns.
#[cfg(feature = "concurrent")]
#[cfg_attr(docsrs, doc(cfg(feature = "concurrent")))]
pub async fn run_concurrent<R, S, E>(handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = R, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse + Send + Sync + 'static,
    E: Debug + Into<Diagnostic> + Send + 'static,
{
    Coldstart::new().run_http_concurrent(handler).await
}

impl Coldstart {
    /// [`run`] for a `lambda_http` handler, with this configuration.
    ///
    /// ```no_run
    /// use coldstart::lambda::Coldstart;
    /// use lambda_http::{service_fn, Body, Error, Request, Response};
    ///
    /// async fn handler(_: Request) -> Result<Response<Body>, Error> {
    ///     Ok(Response::new("ok".into()))
    /// }
    ///
    /// #[tokio::main]
    /// async fn main() -> Result<(), Error> {
    ///     Coldstart::new().on_flush(|_| {}).run_http(service_fn(handler)).await
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// What `lambda_http::run` returns.
    pub async fn run_http<'a, R, S, E>(self, handler: S) -> Result<(), Error>
    where
        S: Service<Request, Response = R, Error = E>,
        S::Future: Send + 'a,
        R: IntoResponse,
        E: Debug + Into<Diagnostic>,
    {
        self.run(Adapter::from(handler)).await
    }

    /// [`run_concurrent`] for a `lambda_http` handler, with this configuration.
    ///
    /// # Errors
    ///
    /// What `lambda_http::run_concurrent` returns.
    #[cfg(feature = "concurrent")]
    #[cfg_attr(docsrs, doc(cfg(feature = "concurrent")))]
    pub async fn run_http_concurrent<R, S, E>(self, handler: S) -> Result<(), Error>
    where
        S: Service<Request, Response = R, Error = E> + Clone + Send + 'static,
        S::Future: Send + 'static,
        R: IntoResponse + Send + Sync + 'static,
        E: Debug + Into<Diagnostic> + Send + 'static,
    {
        self.run_concurrent(Adapter::from(handler)).await
    }
}
