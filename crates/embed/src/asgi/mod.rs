//! The ASGI interface.
//!
//! [`AsgiServer::start`] starts the event-loop thread ([`crate::event_loop`]), runs lifespan startup there,
//! and then serves requests posted by [`AsgiHandler`], which the network side calls. Each request becomes
//! one job on that thread that builds the scope and starts the app's coroutine as its own asyncio Task,
//! stepped at once, in a fresh copy of the base context.

pub(crate) mod call;
pub(crate) mod context;
mod scope;
mod wake;
pub(crate) mod websocket;

use std::sync::Arc;

use covetpy_protocols::{Handler, Request, RequestBody, RequestHead, Response, WebSocketUpgrade};
use http::StatusCode;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

use self::call::{CallShared, DisconnectGuard, HttpCall};
use self::context::AsgiContext;
use crate::event_loop::{run_until_complete_in_copy, LoopEnv, LoopThread, Started, Teardown};
use crate::{LoadedApp, StartupError};

/// `--lifespan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifespanMode {
    /// Run it; if the app does not support it, carry on.
    Auto,
    /// Run it; any failure stops the server.
    On,
    /// Do not run it.
    Off,
}

impl LifespanMode {
    fn as_str(self) -> &'static str {
        match self {
            LifespanMode::Auto => "auto",
            LifespanMode::On => "on",
            LifespanMode::Off => "off",
        }
    }
}

/// Settings for serving an ASGI app.
#[derive(Debug, Clone)]
pub struct AsgiOptions {
    /// `--lifespan`.
    pub lifespan: LifespanMode,
    /// `--root-path`.
    pub root_path: String,
    /// `--loop`, resolved by [`crate::resolve_event_loop`].
    pub event_loop: crate::EventLoopKind,
}

/// The running event-loop thread serving an ASGI app.
pub struct AsgiServer {
    thread: LoopThread,
    ctx: Arc<AsgiContext>,
}

impl std::fmt::Debug for AsgiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsgiServer").finish_non_exhaustive()
    }
}

impl AsgiServer {
    /// Starts the event-loop thread and runs lifespan startup; returns once the app is ready.
    pub fn start(
        app: LoadedApp,
        options: AsgiOptions,
        tokio: tokio::runtime::Handle,
    ) -> Result<AsgiServer, StartupError> {
        let handle = tokio.clone();
        let (thread, ctx) = LoopThread::spawn(app.context, options.event_loop, &handle, move |py, env| {
            let (ctx, teardown) = prepare(py, env, app.app, &options, tokio)?;
            Ok(Started { shared: ctx, teardown })
        })?;
        Ok(AsgiServer { thread, ctx })
    }

    /// The request handler to give the network side.
    pub fn handler(&self) -> AsgiHandler {
        AsgiHandler { ctx: Arc::clone(&self.ctx) }
    }

    /// Stops the event loop, runs lifespan shutdown and waits for the thread. Returns false if the app
    /// reported a shutdown failure.
    pub fn shutdown(self) -> bool {
        self.thread.shutdown()
    }
}

/// Runs lifespan startup on the event-loop thread and builds what every ASGI call there shares.
/// Interfaces built on ASGI (the native one) call this from their own set-up.
pub(crate) fn prepare(
    py: Python<'_>,
    env: &LoopEnv<'_>,
    app: Py<PyAny>,
    options: &AsgiOptions,
    tokio: tokio::runtime::Handle,
) -> Result<(Arc<AsgiContext>, Teardown), StartupError> {
    let internal = |e: PyErr| StartupError::Internal(crate::bootstrap::format_error(py, &e));
    let runtime = py.import("_covetpy_runtime").map_err(internal)?;
    let lifespan = runtime
        .getattr("Lifespan")
        .and_then(|cls| cls.call1((app.bind(py), options.lifespan.as_str())))
        .map_err(internal)?;
    // Lifespan runs in a Task of its own, as in uvicorn: variables it sets never reach requests.
    let started = lifespan
        .call_method0("startup")
        .and_then(|coro| run_until_complete_in_copy(&env.base_context, &env.event_loop, coro))
        .and_then(|ok| ok.is_truthy())
        .map_err(internal)?;
    if !started {
        return Err(StartupError::LifespanFailed);
    }
    let build = || -> PyResult<AsgiContext> {
        let state = lifespan.getattr("state")?.cast_into::<PyDict>()?;
        Ok(AsgiContext {
            app,
            root_path: options.root_path.clone(),
            root_path_str: pyo3::types::PyString::new(py, &options.root_path).unbind(),
            state: state.unbind(),
            create_future: env.event_loop.getattr("create_future")?.unbind(),
            tasks: Arc::clone(&env.starter),
            client_disconnected: runtime.getattr("ClientDisconnected")?.unbind(),
            sender: env.sender.clone(),
            tokio,
        })
    };
    let ctx = build().map_err(internal)?;
    let base_context = env.base_context.clone().unbind();
    let lifespan = lifespan.unbind();
    let teardown: Teardown = Box::new(move |py, event_loop| {
        let stopped = lifespan
            .bind(py)
            .call_method0("shutdown")
            .and_then(|coro| run_until_complete_in_copy(base_context.bind(py), event_loop, coro))
            .and_then(|ok| ok.is_truthy());
        match stopped {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!("lifespan shutdown failed: {}", crate::bootstrap::format_error(py, &e));
                false
            }
        }
    });
    Ok((Arc::new(ctx), teardown))
}

/// Hands requests to the event-loop thread. Implements the network side's [`Handler`].
#[derive(Clone)]
pub struct AsgiHandler {
    ctx: Arc<AsgiContext>,
}

impl std::fmt::Debug for AsgiHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsgiHandler").finish_non_exhaustive()
    }
}

impl Handler for AsgiHandler {
    async fn call(&self, request: Request) -> Response {
        let Request { head, body, websocket } = request;
        match websocket {
            Some(upgrade) => serve_websocket(&self.ctx, head, upgrade).await,
            None => serve_http(&self.ctx, head, body).await,
        }
    }
}

/// Runs the ASGI application on one HTTP request (body streamed to it through `receive`) and waits
/// for the response head. The native interface hands the requests it does not serve itself here too.
pub(crate) async fn serve_http(ctx: &Arc<AsgiContext>, head: RequestHead, body: RequestBody) -> Response {
    serve_http_with(ctx, None, head, body).await
}

/// [`serve_http`] with another ASGI app than the context's own (`None`: the context's app), sharing
/// everything else: the event loop, the lifespan state, the root path.
pub(crate) async fn serve_http_with(
    ctx: &Arc<AsgiContext>,
    app: Option<Arc<Py<PyAny>>>,
    head: RequestHead,
    body: RequestBody,
) -> Response {
    let (first, body) = match crate::first_chunk::split_body(body) {
        Ok(split) => split,
        Err(response) => return *response,
    };
    let shared = CallShared::new(Arc::clone(ctx), body.is_none());
    let (reply, response) = oneshot::channel();
    let mut guard = DisconnectGuard(Some(Arc::clone(&shared)));
    let call = HttpCall { head, first, body, reply, shared };
    if !ctx.sender.post(Box::new(call::HttpJob { ctx: Arc::clone(ctx), app, call })) {
        guard.0 = None;
        return crate::stock_responses::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    // If hyper drops this future (the client left) the guard tells the app via `http.disconnect`.
    let response = response.await;
    guard.0 = None;
    response.unwrap_or_else(|_| crate::stock_responses::internal_error())
}

/// Runs the ASGI application on one WebSocket handshake and waits for its answer (the 101, a close
/// or a denial response).
pub(crate) async fn serve_websocket(ctx: &Arc<AsgiContext>, head: RequestHead, upgrade: WebSocketUpgrade) -> Response {
    let (reply, response) = oneshot::channel();
    let call = websocket::WsCall { head, upgrade, reply };
    if !ctx.sender.post(Box::new(websocket::WsJob { ctx: Arc::clone(ctx), call })) {
        return crate::stock_responses::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    response.await.unwrap_or_else(|_| crate::stock_responses::internal_error())
}
