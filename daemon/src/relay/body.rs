//! Bodies both ways: a request body read far enough to find its model and then streamed on, an
//! upstream response passed on chunk by chunk (after what was read of it), and local answers.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(super) type RelayBody = UnsyncBoxBody<Bytes, BoxError>;

/// A request body read up to a limit; `rest` is what was not read.
pub(super) struct Prefix {
    pub(super) bytes: Bytes,
    pub(super) rest: Option<Incoming>,
}

impl Prefix {
    pub(super) async fn read(mut body: Incoming, limit: usize) -> Result<Prefix, hyper::Error> {
        use http_body::Body as _;
        let hint = body.size_hint().lower().min(limit as u64) as usize;
        let mut buf = BytesMut::with_capacity(hint);
        loop {
            if buf.len() >= limit {
                return Ok(Prefix {
                    bytes: buf.freeze(),
                    rest: Some(body),
                });
            }
            match body.frame().await {
                None => {
                    return Ok(Prefix {
                        bytes: buf.freeze(),
                        rest: None,
                    });
                }
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    pub(super) fn into_body(self) -> reqwest::Body {
        match self.rest {
            None => reqwest::Body::from(self.bytes),
            Some(rest) => reqwest::Body::wrap_stream(
                stream::once(async { Ok(self.bytes) }).chain(data_of(rest)),
            ),
        }
    }
}

/// The data frames of a request body, as a stream.
fn data_of(body: Incoming) -> impl futures::Stream<Item = Result<Bytes, hyper::Error>> + Send {
    BodyStream::new(body).try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
}

pub(super) fn streaming_body(body: Incoming) -> Option<reqwest::Body> {
    use http_body::Body as _;
    if body.is_end_stream() {
        None
    } else {
        Some(reqwest::Body::wrap_stream(data_of(body)))
    }
}

pub(super) fn full(bytes: impl Into<Bytes>) -> RelayBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// The rest of an upstream response, chunk by chunk as it comes.
pub(super) fn passthrough(prefix: Option<Bytes>, resp: Option<reqwest::Response>) -> RelayBody {
    let head = stream::iter(prefix.filter(|b| !b.is_empty()).map(Ok::<_, BoxError>));
    let tail = match resp {
        Some(resp) => resp
            .bytes_stream()
            .map_err(|e| Box::new(e) as BoxError)
            .left_stream(),
        None => stream::empty().right_stream(),
    };
    StreamBody::new(head.chain(tail).map_ok(Frame::data)).boxed_unsync()
}

pub(super) fn json_response(status: StatusCode, body: Vec<u8>) -> Response<RelayBody> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A response with upstream's status and headers (hop-by-hop ones already gone) and `body`.
pub(super) fn response_with(
    status: StatusCode,
    headers: HeaderMap,
    body: RelayBody,
) -> Response<RelayBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// Reads the start of an upstream body (an error's, to classify it). Gives up waiting after
/// `patience`; what was read and what was not are both returned.
pub(super) async fn read_start(
    mut resp: reqwest::Response,
    limit: usize,
    patience: Duration,
) -> (Bytes, Option<reqwest::Response>) {
    let mut buf = BytesMut::new();
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if buf.len() >= limit {
            return (buf.freeze(), Some(resp));
        }
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk),
            Ok(Ok(None)) => return (buf.freeze(), None),
            // A body that breaks off: pass on what came (the client sees it end).
            Ok(Err(_)) => return (buf.freeze(), None),
            Err(_) => return (buf.freeze(), Some(resp)),
        }
    }
}
