//! The embedded CPython interpreter for CovetPy.
//!
//! [`interpreter`] starts CPython against the user's virtualenv, [`loader`] imports the application, and
//! one module per interface serves it: [`asgi`] (a dedicated interpreter thread runs the asyncio event
//! loop) and [`wsgi`] (a pool of interpreter threads). The network side (Tokio threads) reaches either
//! only through queues, so Tokio threads never take the GIL.

pub mod asgi;
mod bootstrap;
mod driver;
mod inbox;
mod intake;
pub mod interpreter;
pub mod loader;
pub mod native;
mod pool;
pub mod sched;
pub mod wsgi;

pub use asgi::{AsgiHandler, AsgiOptions, AsgiServer, LifespanMode, StartupError};
pub use interpreter::{InterpreterError, InterpreterOptions};
pub use loader::{AppSpec, Interface, LoadError, LoadedApp};
pub use native::{NativeHandler, NativeOptions, NativeServer};
pub use wsgi::{WsgiHandler, WsgiOptions, WsgiServer};
