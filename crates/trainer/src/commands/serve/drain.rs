//! Request bodies the server answers without reading (a 503 when it is full, a 413 past
//! `--max-body`, a 404) are read to their end and thrown away, within bounds, so that the
//! client that is still uploading reads the answer.
//!
//! Why: hyper closes a connection whose request body is left unread once the answer is sent.
//! Bytes the client sends after that make the kernel reset the connection, and a client
//! still writing its upload then sees a broken pipe instead of the 503 and its `Retry-After`
//! (Python's http.client did, for a quarter of the uploads refused under load). Web servers
//! linger for the same reason (nginx's `lingering_close`). The body is read on a task of its
//! own once the handler has dropped it, while hyper sends the answer; at most
//! [`DRAIN_LIMIT`] bytes are read, for at most [`DRAIN_TIME`], one frame in memory at a time,
//! and a client that asked `Expect: 100-continue` is not asked for its body at all.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// The most of an unread body read and thrown away; a client sending more is cut off.
pub const DRAIN_LIMIT: u64 = 64 << 20;
/// The longest an unread body is read for.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The middleware: every request's body is handed on wrapped in [`DrainOnDrop`].
pub async fn drain_unread_bodies(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    // A client waiting for `100 Continue` has sent no body: asking for it would only make
    // it upload what nobody reads.
    let waits_to_send = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let body = if waits_to_send {
        body
    } else {
        Body::new(DrainOnDrop(Some(body)))
    };
    next.run(Request::from_parts(parts, body)).await
}

/// A request body that, dropped before its end, is read to its end on a task of its own.
struct DrainOnDrop(Option<Body>);

impl HttpBody for DrainOnDrop {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(body) = self.0.take() else { return };
        if body.is_end_stream() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(discard(body));
        }
    }
}

/// Reads `body` to its end and throws it away, up to [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`].
async fn discard(mut body: Body) {
    let read_all = async {
        let mut read = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |data| data.len() as u64);
            if read > DRAIN_LIMIT {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read_all).await;
}
