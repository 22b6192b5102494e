//! [`LocalRuntimeApiBuilder`], the settings it checks, and the environment a function is given.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::sync::{oneshot, watch};

use crate::headers::header_value_from_ascii;
use crate::ids::log_stream_name;
use crate::server::serve;
use crate::state::{Shared, State};
use crate::{
    LocalRuntimeApi, DEFAULT_DEADLINE, DEFAULT_FUNCTION_NAME, DEFAULT_MEMORY_MB, DEFAULT_REGION,
    DEFAULT_VERSION,
};

/// The account id in the function ARN.
const ACCOUNT_ID: &str = "000000000000";

/// Configures and starts a [`LocalRuntimeApi`]. Created by [`LocalRuntimeApi::builder`].
#[derive(Debug, Clone)]
pub struct LocalRuntimeApiBuilder {
    function_name: String,
    memory_mb: u32,
    version: String,
    region: String,
    default_deadline: Duration,
}

impl Default for LocalRuntimeApiBuilder {
    fn default() -> Self {
        Self {
            function_name: DEFAULT_FUNCTION_NAME.to_owned(),
            memory_mb: DEFAULT_MEMORY_MB,
            version: DEFAULT_VERSION.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            default_deadline: DEFAULT_DEADLINE,
        }
    }
}

impl LocalRuntimeApiBuilder {
    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`, part of the function ARN).
    /// Must be 1 to 64 ASCII letters, digits, `-` or `_`, like a real one.
    /// Default: [`DEFAULT_FUNCTION_NAME`].
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }

    /// The configured memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    /// Default: [`DEFAULT_MEMORY_MB`].
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }

    /// The function version (`AWS_LAMBDA_FUNCTION_VERSION`).
    /// Default: [`DEFAULT_VERSION`].
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The region (`AWS_REGION`, part of the function ARN). Must be non-empty
    /// lowercase ASCII letters, digits and `-`. Default: [`DEFAULT_REGION`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Time given to each invocation before its deadline, for events that do not
    /// set [`LocalEvent::deadline_in`](crate::LocalEvent::deadline_in). Default: [`DEFAULT_DEADLINE`].
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on a dedicated thread.
    ///
    /// # Errors
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] if a setting is invalid, or
    /// with the underlying error if the listener, the runtime or the thread cannot
    /// be created.
    pub fn start(self) -> std::io::Result<LocalRuntimeApi> {
        let config = self.into_config()?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let handle = runtime.handle().clone();

        let (results_changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            results_changed,
            pending_next: AtomicUsize::new(0),
            pushed: AtomicUsize::new(0),
            restore_next_calls: AtomicUsize::new(0),
            pending_extension_next: AtomicUsize::new(0),
        });

        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("coldstart-local-runtime-api".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, server_shared, shutdown_rx));
                // Dropping the runtime cancels every connection task, which closes
                // the sockets (including `/next` requests still waiting for events).
                drop(runtime);
            })?;

        Ok(LocalRuntimeApi {
            addr,
            shared,
            handle,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    fn into_config(self) -> std::io::Result<Config> {
        let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
        let name_ok = !self.function_name.is_empty()
            && self.function_name.len() <= 64
            && self
                .function_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(format!(
                "invalid function name {:?}: expected 1 to 64 ASCII letters, digits, '-' or '_'",
                self.function_name
            )));
        }
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(invalid(format!(
                "invalid region {:?}: expected lowercase ASCII letters, digits or '-'",
                self.region
            )));
        }
        if self.version.is_empty() || self.version.chars().any(char::is_control) {
            return Err(invalid(format!(
                "invalid function version {:?}: expected a non-empty string without control characters",
                self.version
            )));
        }
        let function_arn = format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}",
            self.region, self.function_name
        );
        let function_arn_header = header_value_from_ascii(function_arn.clone());
        let log_stream_name = log_stream_name(&self.version);
        Ok(Config {
            function_name: self.function_name,
            function_arn,
            function_arn_header,
            memory_mb: self.memory_mb,
            version: self.version,
            region: self.region,
            log_stream_name,
            default_deadline: self.default_deadline,
        })
    }
}

/// The checked settings, and what is derived from them once.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) function_name: String,
    pub(crate) function_arn: String,
    pub(crate) function_arn_header: HeaderValue,
    pub(crate) memory_mb: u32,
    pub(crate) version: String,
    pub(crate) region: String,
    pub(crate) log_stream_name: String,
    pub(crate) default_deadline: Duration,
}

// What the function sees.
impl LocalRuntimeApi {
    /// The name of the emulated function.
    pub fn function_name(&self) -> &str {
        &self.shared.config.function_name
    }

    /// The ARN sent in `Lambda-Runtime-Invoked-Function-Arn`,
    /// `arn:aws:lambda:<region>:000000000000:function:<function name>`.
    pub fn function_arn(&self) -> &str {
        &self.shared.config.function_arn
    }

    /// The environment a Lambda function sees, pointing at this emulator:
    /// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_FUNCTION_VERSION`,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_LAMBDA_LOG_GROUP_NAME` and `AWS_REGION`.
    ///
    /// Use it to configure a child process (`Command::envs`) or call
    /// [`set_env`](Self::set_env) to configure the current one.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let config = &self.shared.config;
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", config.log_stream_name.clone()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.function_name),
            ),
            ("AWS_REGION", config.region.clone()),
        ]
    }

    /// Sets every variable of [`env`](Self::env) in the current process, so that
    /// `lambda_runtime::run` (which reads its configuration from the environment)
    /// talks to this emulator.
    ///
    /// In a test binary, keep every test that depends on these variables in one
    /// `#[test]` function or serialize them.
    ///
    /// # Safety
    ///
    /// The same as [`std::env::set_var`]'s: the environment is process-global, and
    /// no other thread may read or write it while this runs. Call it early, before
    /// starting other threads (in particular before building a multi-threaded tokio
    /// runtime or entering `#[tokio::main]`). The emulator's own thread never reads
    /// the environment.
    #[allow(unsafe_code)] // the one place: lambda_runtime reads its configuration only from there
    pub unsafe fn set_env(&self) {
        for (key, value) in self.env() {
            // SAFETY: the caller guarantees no other thread touches the environment.
            unsafe { std::env::set_var(key, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn builder_rejects_invalid_settings() {
        for builder in [
            LocalRuntimeApi::builder().function_name(""),
            LocalRuntimeApi::builder().function_name("has space"),
            LocalRuntimeApi::builder().function_name("x".repeat(65)),
            LocalRuntimeApi::builder().region("US_EAST"),
            LocalRuntimeApi::builder().version("1\0"),
        ] {
            let err = builder.start().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn env_describes_the_function() {
        let api = LocalRuntimeApi::builder()
            .function_name("env-test")
            .memory_mb(512)
            .version("7")
            .region("eu-west-1")
            .start()
            .unwrap();
        let env: HashMap<&str, String> = api.env().into_iter().collect();
        assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], api.addr().to_string());
        assert!(env["AWS_LAMBDA_RUNTIME_API"].starts_with("127.0.0.1:"));
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "env-test");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "7");
        assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/env-test");
        assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[7]"));
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(
            api.function_arn(),
            "arn:aws:lambda:eu-west-1:000000000000:function:env-test"
        );
    }
}
