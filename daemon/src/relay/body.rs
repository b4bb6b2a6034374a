//! Bodies both ways: a request body read whole within bounds to find its model, or streamed on, an
//! upstream response passed on chunk by chunk (after what was read of it), and local answers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(super) type RelayBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why a request body was not read.
pub(super) enum BodyRefused {
    /// Over the size cap (413).
    TooLarge,
    /// Not all there by the deadline (408).
    TooSlow,
    /// Every relay connection together holds as much body as allowed: try again later (503).
    Busy,
    /// The connection broke off (400).
    Broken(hyper::Error),
}

/// What request bodies may hold in memory, over all connections, counted in KiB permits.
pub(super) type BodyBudget = Arc<Semaphore>;

/// A chat completion's body, read whole (to find its model) within a size cap, a deadline and
/// the relay's shared memory budget; the budget taken is given back once it is sent on.
pub(super) struct ReadBody {
    bytes: Bytes,
    held: Option<OwnedSemaphorePermit>,
}

impl ReadBody {
    pub(super) async fn read(
        body: Incoming,
        limit: usize,
        deadline: Duration,
        budget: &BodyBudget,
    ) -> Result<ReadBody, BodyRefused> {
        match tokio::time::timeout(deadline, Self::read_all(body, limit, budget)).await {
            Ok(read) => read,
            // Dropping the future frees what was read so far.
            Err(_) => Err(BodyRefused::TooSlow),
        }
    }

    async fn read_all(
        mut body: Incoming,
        limit: usize,
        budget: &BodyBudget,
    ) -> Result<ReadBody, BodyRefused> {
        use http_body::Body as _;
        if body.size_hint().lower() > limit as u64 {
            return Err(BodyRefused::TooLarge);
        }
        let mut buf = BytesMut::new();
        let mut held: Option<OwnedSemaphorePermit> = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(BodyRefused::Broken)?.into_data() else {
                continue;
            };
            if buf.len() + data.len() > limit {
                return Err(BodyRefused::TooLarge);
            }
            let kib = (buf.len() + data.len()).div_ceil(1024) as u32;
            let more = kib - held.as_ref().map_or(0, |p| p.num_permits() as u32);
            if more > 0 {
                let permit = budget
                    .clone()
                    .try_acquire_many_owned(more)
                    .map_err(|_| BodyRefused::Busy)?;
                match &mut held {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
            }
            buf.extend_from_slice(&data);
        }
        Ok(ReadBody {
            bytes: buf.freeze(),
            held,
        })
    }

    pub(super) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub(super) fn into_body(self) -> reqwest::Body {
        let ReadBody { bytes, held } = self;
        reqwest::Body::wrap_stream(stream::once(async move {
            drop(held);
            Ok::<_, Infallible>(bytes)
        }))
    }
}

/// The data frames of a request body, as a stream that fails once more than `limit` bytes came.
fn data_of(
    body: Incoming,
    limit: usize,
) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send {
    let mut seen = 0usize;
    TryStreamExt::map_err(BodyStream::new(body), |e| Box::new(e) as BoxError)
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .and_then(move |data| {
            seen += data.len();
            let over = seen > limit;
            async move {
                match over {
                    true => Err(BoxError::from(
                        "the request body is over the relay's size cap",
                    )),
                    false => Ok(data),
                }
            }
        })
}

/// A body that is not a chat completion, streamed on as it comes (cut off over `limit`).
pub(super) fn streaming_body(body: Incoming, limit: usize) -> Option<reqwest::Body> {
    use http_body::Body as _;
    if body.is_end_stream() {
        None
    } else {
        Some(reqwest::Body::wrap_stream(data_of(body, limit)))
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
