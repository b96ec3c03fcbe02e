//! The CovetPy native interface: FastAPI-style apps whose routing, parameter parsing and validation,
//! and JSON encoding run in Rust.
//!
//! The route table is read once at start-up. Per request, a network thread matches the route, converts
//! path/query/header/cookie parameters and answers 404, 405 and 422 itself, without Python. Only a
//! request that reaches a handler goes to Python: `async def` endpoints run as asyncio Tasks on the
//! event-loop thread, `def` endpoints on a thread pool so a blocking one holds up only its own thread;
//! each in its own copy of the base context. Return values are
//! encoded to JSON in Rust.
//!
//! What Rust does not serve goes to the app's own ASGI `__call__` through [`crate::asgi::serve_http`]
//! and [`crate::asgi::serve_websocket`], as `--interface asgi` would run it: routes marked `asgi`, every
//! request when the app sets `_covet_asgi_all`, and misses when it sets `_covet_asgi_on_miss`.

mod json;
mod layers;
mod params;
mod respond;
mod routes;
mod static_files;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use covetpy_protocols::{Handler, Request, RequestBody, Response, WebSocketUpgrade};
use http::header::ALLOW;
use http::StatusCode;
use percent_encoding::percent_decode_str;
use tokio::sync::oneshot;

use self::params::{convert_all, parse_cookies, parse_query, Arg, ParamError, Source};
use self::respond::{NativeCall, NativeContext};
use self::routes::Lookup;
use crate::asgi::websocket::WsCall;
use crate::asgi::AsgiOptions;
use crate::event_loop::{LoopThread, Started};
use crate::pool::{Pool, PoolSender};
use crate::{LoadedApp, StartupError};

/// Settings for serving a native app.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// Lifespan and root path, as for ASGI.
    pub asgi: AsgiOptions,
    /// Threads for `def` endpoints.
    pub threads: usize,
}

/// A running native app: the event-loop thread plus the pool for `def` endpoints.
pub struct NativeServer {
    loop_thread: LoopThread,
    pool: Pool<Box<NativeCall>>,
    ctx: Arc<NativeContext>,
}

impl std::fmt::Debug for NativeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeServer").finish_non_exhaustive()
    }
}

impl NativeServer {
    /// Runs lifespan startup, reads the route table and starts the pool.
    pub fn start(
        app: LoadedApp,
        options: NativeOptions,
        tokio: tokio::runtime::Handle,
    ) -> Result<NativeServer, StartupError> {
        let handle = tokio.clone();
        let asgi_options = options.asgi.clone();
        let (loop_thread, ctx) = LoopThread::spawn(app.context, asgi_options.event_loop, &handle, move |py, env| {
            let app = app.app;
            let (asgi, teardown) = crate::asgi::prepare(py, env, app.clone_ref(py), &asgi_options, tokio)?;
            let ctx = NativeContext::load(py, app.bind(py), env, asgi)
                .map_err(|e| StartupError::Internal(crate::bootstrap::format_error(py, &e)))?;
            Ok(Started { shared: Arc::new(ctx), teardown })
        })?;
        let pool_ctx = Arc::clone(&ctx);
        let pool = Pool::start("covetpy-sync", options.threads, move |py, call| {
            crate::contexts::in_copy(py, &pool_ctx.base_context, || respond::run_sync(py, &pool_ctx, call));
        })?;
        Ok(NativeServer { loop_thread, pool, ctx })
    }

    /// The request handler to give the network side.
    pub fn handler(&self) -> NativeHandler {
        NativeHandler { ctx: Arc::clone(&self.ctx), pool: self.pool.sender() }
    }

    /// Stops the pool and the event loop, running lifespan shutdown.
    pub fn shutdown(self) -> bool {
        self.pool.shutdown();
        self.loop_thread.shutdown()
    }
}

/// Matches routes and converts parameters on the network side. Implements [`Handler`].
#[derive(Clone)]
pub struct NativeHandler {
    ctx: Arc<NativeContext>,
    pool: PoolSender<Box<NativeCall>>,
}

impl std::fmt::Debug for NativeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeHandler").finish_non_exhaustive()
    }
}

const NOT_FOUND: &[u8] = br#"{"detail":"Not Found"}"#;
const METHOD_NOT_ALLOWED: &[u8] = br#"{"detail":"Method Not Allowed"}"#;

impl Handler for NativeHandler {
    async fn call(&self, request: Request) -> Response {
        let front = &self.ctx.front;
        if front.is_empty() {
            return self.serve(request).await;
        }
        match front.enter(&request.head, request.websocket.is_some()) {
            Ok(entered) => front.leave(entered, self.serve(request).await),
            Err(answer) => *answer,
        }
    }
}

impl NativeHandler {
    /// Answers a request the middleware layers let through.
    async fn serve(&self, request: Request) -> Response {
        let Request { head, body, websocket } = request;
        let table = &self.ctx.table;
        if table.asgi_all || self.ctx.front.python_only {
            return match websocket {
                Some(upgrade) => crate::asgi::serve_websocket(&self.ctx.front.inner, head, upgrade).await,
                None => crate::asgi::serve_http(&self.ctx.front.inner, head, body).await,
            };
        }
        let path = percent_decode_str(head.uri.path()).decode_utf8_lossy().into_owned();
        if let Some(upgrade) = websocket {
            return self.websocket(head, upgrade, &path).await;
        }
        let found = table.lookup(&head.method, &path);
        if !matches!(found, Lookup::Found(..)) {
            if let Some(answer) = self.ctx.statics.answer(&head, &path) {
                return answer;
            }
        }
        let (index, path_params) = match found {
            Lookup::Found(index, params) => (index, params),
            // The app's own router may know the path: a mount, a Starlette route, a redirect.
            _ if table.asgi_on_miss => return crate::asgi::serve_http(&self.ctx.front.inner, head, body).await,
            Lookup::NotFound if table.matches_toggled_slash(&head.method, &path) => {
                return crate::asgi::serve_http(&self.ctx.front.inner, head, body).await
            }
            Lookup::NotFound => return respond::json_response(StatusCode::NOT_FOUND, NOT_FOUND),
            Lookup::MethodNotAllowed(allow) => {
                let mut response = respond::json_response(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
                response.headers.insert(ALLOW, allow);
                return response;
            }
        };
        let route = &table.routes[index];
        if route.asgi {
            return crate::asgi::serve_http_with(&self.ctx.front.inner, route.asgi_app.clone(), head, body).await;
        }
        let (args, errors) = extract(route, &head, &path_params);
        // With a body to validate too, Python must run so both kinds of error are reported together.
        if !errors.is_empty() && !table.custom_validation_handler && route.body_validator.is_none() {
            return respond::validation_response(&errors);
        }
        let body = if route.needs_body() {
            match read_all(body).await {
                Some(bytes) => bytes,
                None => return crate::stock_responses::plain(StatusCode::BAD_REQUEST, "Bad Request"),
            }
        } else {
            Bytes::new()
        };
        let (reply, response) = oneshot::channel();
        let call = Box::new(NativeCall { route: index, head, path, args, errors, body, reply });
        let queued = if route.is_coroutine {
            self.ctx.asgi.sender.post(Box::new(respond::NativeJob { ctx: Arc::clone(&self.ctx), call }))
        } else {
            self.pool.send(call)
        };
        if !queued {
            return crate::stock_responses::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        response.await.unwrap_or_else(|_| self.ctx.front.internal_error())
    }

    /// A WebSocket handshake: a matching `@app.websocket` route runs; anything else goes to the app's
    /// ASGI side when it asked for misses, and is refused with 403 (as Starlette refuses it) otherwise.
    async fn websocket(&self, head: covetpy_protocols::RequestHead, upgrade: WebSocketUpgrade, path: &str) -> Response {
        let Some((index, params)) = self.ctx.table.lookup_websocket(path) else {
            if self.ctx.table.asgi_on_miss {
                return crate::asgi::serve_websocket(&self.ctx.front.inner, head, upgrade).await;
            }
            return crate::stock_responses::plain(StatusCode::FORBIDDEN, "Forbidden");
        };
        let (reply, response) = oneshot::channel();
        let call = WsCall { head, upgrade, reply };
        let job = respond::NativeWsJob { ctx: Arc::clone(&self.ctx), call, index, params };
        if !self.ctx.asgi.sender.post(Box::new(job)) {
            return crate::stock_responses::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        response.await.unwrap_or_else(|_| crate::stock_responses::internal_error())
    }
}

/// Converts every non-body parameter; returns the values and the errors found.
fn extract(
    route: &routes::Route,
    head: &covetpy_protocols::RequestHead,
    path_params: &[(String, String)],
) -> (Vec<Arg>, Vec<ParamError>) {
    let mut query: Option<Vec<(String, String)>> = None;
    let mut cookies: Option<Vec<(String, String)>> = None;
    let mut args = Vec::with_capacity(route.params.len());
    let mut errors = Vec::new();
    for param in &route.params {
        let rule = param.rule();
        let raws: Vec<&str> = match param.source {
            Source::Path => path_params.iter().filter(|(k, _)| *k == param.alias).map(|(_, v)| v.as_str()).collect(),
            Source::Query => query
                .get_or_insert_with(|| parse_query(head.query()))
                .iter()
                .filter(|(k, _)| *k == param.alias)
                .map(|(_, v)| v.as_str())
                .collect(),
            Source::Header => {
                head.headers.get_all(param.alias.as_str()).iter().filter_map(|v| v.to_str().ok()).collect()
            }
            Source::Cookie => cookies
                .get_or_insert_with(|| parse_cookies(&head.headers))
                .iter()
                .filter(|(k, _)| *k == param.alias)
                .map(|(_, v)| v.as_str())
                .collect(),
            Source::Request | Source::Body => {
                args.push(Arg::Default);
                continue;
            }
        };
        match convert_all(&rule, &raws) {
            Ok(arg) => args.push(arg),
            Err(e) => {
                args.push(Arg::Default);
                errors.push(e);
            }
        }
    }
    (args, errors)
}

/// Reads the whole body; `None` if the client broke off.
async fn read_all(mut body: RequestBody) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    loop {
        match body.next_chunk(256 * 1024).await {
            Ok(Some(chunk)) if buf.is_empty() && body.is_end_stream() => return Some(chunk),
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return Some(buf.freeze()),
            Err(e) => {
                tracing::debug!("{e}");
                return None;
            }
        }
    }
}
