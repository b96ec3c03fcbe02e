use std::future::Future;

use crate::{Request, Response};

/// Produces a response for each request. Implemented by the application side (the embedded interpreter)
/// and called by the server for every request on every connection.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request. The returned future resolves once the response head is known; the body may
    /// keep streaming after that through [`ResponseBody::channel`](crate::ResponseBody::channel).
    fn call(&self, request: Request) -> impl Future<Output = Response> + Send;
}
