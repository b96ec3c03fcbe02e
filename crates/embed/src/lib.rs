//! The embedded CPython interpreter for CovetPy.
//!
//! [`interpreter`] starts CPython against the user's virtualenv, [`loader`] imports the application, and
//! [`asgi`] serves it: a dedicated interpreter thread runs the asyncio event loop and calls the app, while
//! the network side (Tokio threads) talks to it only through a queue and a wake-up socket, so Tokio threads
//! never take the GIL.

pub mod asgi;
mod driver;
mod inbox;
pub mod interpreter;
pub mod loader;
mod native;
pub mod sched;

pub use asgi::{AsgiHandler, AsgiOptions, AsgiServer, LifespanMode, StartupError};
pub use interpreter::{InterpreterError, InterpreterOptions};
pub use loader::{AppSpec, Interface, LoadError, LoadedApp};
