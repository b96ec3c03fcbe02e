//! Resolving a future an ASGI call waits on, once a Tokio task has what it waited for.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;

use super::context::AsgiContext;
use crate::event_loop::Job;

/// How a wait ended, as the future's outcome: a result to set, or an exception to raise.
pub(crate) enum Settled<'py> {
    /// `fut.set_result(value)`.
    Value(Bound<'py, PyAny>),
    /// `fut.set_exception(exc)`.
    Raise(Bound<'py, PyAny>),
}

/// What a background wait delivers (more body, a WebSocket message, a finished send...).
pub(crate) trait Resolve: Send + 'static {
    /// Turns the outcome into what the future gets.
    fn settle<'py>(self, py: Python<'py>, ctx: &AsgiContext) -> PyResult<Settled<'py>>;
}

/// A future a call waits on, with what to resolve it with: a job for the event-loop thread.
pub(crate) struct WakeJob<O> {
    ctx: Arc<AsgiContext>,
    fut: Py<PyAny>,
    outcome: O,
}

impl<O: Resolve> WakeJob<O> {
    /// Posts the job; a loop that has gone away (shutdown) has nobody left to wake.
    pub(crate) fn post(ctx: Arc<AsgiContext>, fut: Py<PyAny>, outcome: O) {
        let sender = ctx.sender.clone();
        sender.post(Box::new(WakeJob { ctx, fut, outcome }));
    }
}

impl<O: Resolve> Job for WakeJob<O> {
    fn run(self: Box<Self>, py: Python<'_>) {
        let WakeJob { ctx, fut, outcome } = *self;
        let resolved = (|| -> PyResult<()> {
            let fut = fut.bind(py);
            // Cancelled meanwhile: the Task has moved on.
            if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                return Ok(());
            }
            match outcome.settle(py, &ctx)? {
                Settled::Value(value) => fut.call_method1(intern!(py, "set_result"), (value,))?,
                Settled::Raise(exc) => fut.call_method1(intern!(py, "set_exception"), (exc,))?,
            };
            Ok(())
        })();
        if let Err(e) = resolved {
            tracing::error!("could not resume an ASGI call: {}", crate::bootstrap::format_error(py, &e));
        }
    }
}
