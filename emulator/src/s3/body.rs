//! Request bodies on their way to s3s: an `aws-chunked` body is decoded as it streams (never gathered), and
//! its trailers are kept for the checksum check that follows the upload.
//!
//! Owns the async side of [`super::chunked`] (which does the parsing): frames in from hyper, payload frames
//! out, the trailers into a [`Trailers`] handle that the request carries in its extensions.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::chunked::{ChunkedDecoder, ChunkedError};

/// The trailers of an `aws-chunked` body, filled in when the body has been read to its end. Carried in the
/// request's extensions, so the operation that consumed the body can verify the checksum they hold.
#[derive(Debug, Clone, Default)]
pub struct Trailers(Arc<Mutex<Option<TrailerList>>>);

/// Trailer names (lower case) and values, in the order sent.
type TrailerList = Vec<(String, String)>;

impl Trailers {
    /// The value of trailer `name` (lower case), once the body has been read.
    pub fn get(&self, name: &str) -> Option<String> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn set(&self, trailers: Vec<(String, String)>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(trailers);
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The `aws-chunked` framing is malformed.
    #[error("{0}")]
    Chunked(#[from] ChunkedError),
    /// The decoded length differs from `x-amz-decoded-content-length`.
    #[error("the decoded body has {actual} bytes, x-amz-decoded-content-length says {expected}")]
    Length {
        /// Announced.
        expected: u64,
        /// Received.
        actual: u64,
    },
    /// The connection failed or the client went away mid-body.
    #[error("reading the request body: {0}")]
    Transport(String),
}

/// A request body in `aws-chunked` encoding, decoded as it streams.
pub struct ChunkedBody<B> {
    inner: B,
    decoder: Option<ChunkedDecoder>,
    pending: Bytes,
    expected: Option<u64>,
    trailers: Trailers,
}

impl<B> ChunkedBody<B> {
    /// Decodes `inner`; `expected` is `x-amz-decoded-content-length` when the client sent it. The trailers
    /// land in `trailers` once the body ends.
    pub fn new(inner: B, expected: Option<u64>, trailers: Trailers) -> ChunkedBody<B> {
        ChunkedBody {
            inner,
            decoder: Some(ChunkedDecoder::new()),
            pending: Bytes::new(),
            expected,
            trailers,
        }
    }
}

impl<B> Body for ChunkedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        loop {
            let Some(decoder) = this.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            if !this.pending.is_empty() {
                match decoder.decode(&mut this.pending) {
                    Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(None) => {}
                    Err(e) => {
                        this.decoder = None;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => {
                    // HTTP trailers of the transport (rare) are not the aws-chunked trailers; ignore them.
                    if let Ok(data) = frame.into_data() {
                        this.pending = data;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.decoder = None;
                    return Poll::Ready(Some(Err(BodyError::Transport(e.to_string()))));
                }
                Poll::Ready(None) => {
                    let Some(decoder) = this.decoder.take() else {
                        return Poll::Ready(None);
                    };
                    let actual = decoder.decoded_len();
                    let trailers = match decoder.finish() {
                        Ok(t) => t,
                        Err(e) => return Poll::Ready(Some(Err(e.into()))),
                    };
                    if let Some(expected) = this.expected {
                        if expected != actual {
                            return Poll::Ready(Some(Err(BodyError::Length { expected, actual })));
                        }
                    }
                    this.trailers.set(trailers);
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.expected, &self.decoder) {
            (Some(n), Some(d)) => SizeHint::with_exact(n.saturating_sub(d.decoded_len())),
            _ => SizeHint::default(),
        }
    }
}
