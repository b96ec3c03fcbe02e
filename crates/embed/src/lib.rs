//! The embedded CPython interpreter for CovetPy.
//!
//! [`interpreter`] starts CPython against the user's virtualenv, [`loader`] imports the application, and
//! one module per interface serves it: [`asgi`] and [`native`] on the event-loop thread (`event_loop`,
//! which names no interface), [`wsgi`] and native `def` endpoints on a pool of interpreter threads. The
//! network side (Tokio threads) reaches them only through queues, so Tokio threads never take the GIL.
//! Every call runs in its own copy of the context the application was imported in.

pub mod asgi;
mod bootstrap;
mod contexts;
mod event_loop;
mod first_chunk;
pub mod interpreter;
pub mod loader;
pub mod logconfig;
mod multipart;
pub mod native;
mod pool;
pub mod scheduling;
mod stock_responses;
pub mod wsgi;

pub use asgi::{AsgiHandler, AsgiOptions, AsgiServer, LifespanMode};
pub use event_loop::{resolve_event_loop, EventLoopKind};
pub use interpreter::{InterpreterError, InterpreterOptions};
pub use loader::{AppSpec, Interface, LoadError, LoadedApp};
pub use native::{NativeHandler, NativeOptions, NativeServer};
pub use wsgi::{WsgiHandler, WsgiOptions, WsgiServer};

/// The app could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The app reported a lifespan startup failure (or raised with `--lifespan on`).
    #[error("application startup failed")]
    LifespanFailed,
    /// The interpreter thread could not be set up.
    #[error("could not start the interpreter thread: {0}")]
    Internal(String),
}
