//! The `aws-chunked` content encoding, decoded without I/O: bytes in, payload slices and trailers out.
//!
//! Current AWS SDKs send S3 uploads as `aws-chunked` bodies by default, with the checksum in a trailer:
//!
//! ```text
//! 400;chunk-signature=<64 hex>\r\n      signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER])
//! <0x400 bytes>\r\n
//! 0;chunk-signature=<64 hex>\r\n
//! x-amz-checksum-crc32:AAAAAA==\r\n     trailers, then an empty line
//! x-amz-trailer-signature:<64 hex>\r\n
//! \r\n
//!
//! 400\r\n <bytes>\r\n 0\r\n x-amz-checksum-crc32:AAAAAA==\r\n \r\n   (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
//! ```
//!
//! Chunk extensions (signatures) are parsed and ignored: the emulator never verifies signatures. Everything
//! here is a parser of outside bytes, so every line and the trailer section are bounded, sizes are checked for
//! overflow, and nothing panics on any input (the `aws_chunked` fuzz target checks that).
//!
//! This file depends on nothing but `std` and `bytes`, so the fuzz crate can compile it on its own.

use bytes::{Buf, Bytes};

/// The longest chunk-header or trailer line accepted (a signed chunk header is about 90 bytes).
pub const MAX_LINE: usize = 4096;
/// The most trailer bytes accepted in all (a few checksums and a signature).
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Why an `aws-chunked` body is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk-header or trailer line is longer than [`MAX_LINE`].
    LineTooLong,
    /// A chunk size is not 1 to 16 hex digits.
    BadChunkSize,
    /// A chunk's data is not followed by `\r\n`.
    MissingCrlf,
    /// A trailer line has no `:` or is not ASCII.
    BadTrailer,
    /// The trailers are larger than [`MAX_TRAILERS`].
    TrailersTooLarge,
    /// The body ended before its final chunk and trailers.
    Truncated,
    /// Bytes follow the end of the body.
    TrailingBytes,
}

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkedError::LineTooLong => "aws-chunked: a chunk header or trailer line is too long",
            ChunkedError::BadChunkSize => "aws-chunked: invalid chunk size",
            ChunkedError::MissingCrlf => "aws-chunked: chunk data not followed by CRLF",
            ChunkedError::BadTrailer => "aws-chunked: malformed trailer",
            ChunkedError::TrailersTooLarge => "aws-chunked: trailers too large",
            ChunkedError::Truncated => "aws-chunked: body ended before the final chunk",
            ChunkedError::TrailingBytes => "aws-chunked: bytes after the end of the body",
        })
    }
}

impl std::error::Error for ChunkedError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `<hex-size>[;extensions]\r\n` line.
    Header,
    /// Inside a chunk's data; this many bytes remain.
    Data(u64),
    /// After a chunk's data: expecting `\r\n` (this many of its bytes already seen).
    DataCrlf(u8),
    /// After the final (empty) chunk: trailer lines until an empty line.
    Trailers,
    /// The empty line after the trailers was read.
    Done,
}

/// An incremental `aws-chunked` decoder. Feed it the body as it arrives with [`ChunkedDecoder::decode`],
/// which hands out payload bytes; call [`ChunkedDecoder::finish`] at the end of the body for the trailers.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
    trailers: Vec<(String, String)>,
    decoded: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Header,
            line: Vec::new(),
            trailer_bytes: 0,
            trailers: Vec::new(),
            decoded: 0,
        }
    }

    /// Payload bytes handed out so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// Consumes bytes from the front of `input` and returns the next payload slice, if any. Call it again
    /// while `input` is not empty: it returns `Ok(None)` only once `input` has been used up (or the body
    /// is complete). Payload slices share `input`'s memory.
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, ChunkedError> {
        while input.has_remaining() {
            match self.state {
                State::Header => {
                    if let Some(line) = self.take_line(input)? {
                        let size = parse_chunk_size(&line)?;
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                }
                State::Data(remaining) => {
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len());
                    let data = input.split_to(n);
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCrlf(0)
                    } else {
                        State::Data(left)
                    };
                    self.decoded += n as u64;
                    return Ok(Some(data));
                }
                State::DataCrlf(seen) => {
                    let expected = if seen == 0 { b'\r' } else { b'\n' };
                    if input.get_u8() != expected {
                        return Err(ChunkedError::MissingCrlf);
                    }
                    self.state = if seen == 0 {
                        State::DataCrlf(1)
                    } else {
                        State::Header
                    };
                }
                State::Trailers => {
                    if let Some(line) = self.take_line(input)? {
                        self.trailer_bytes += line.len() + 2;
                        if self.trailer_bytes > MAX_TRAILERS {
                            return Err(ChunkedError::TrailersTooLarge);
                        }
                        if line.is_empty() {
                            self.state = State::Done;
                        } else {
                            self.trailers.push(parse_trailer(&line)?);
                        }
                    }
                }
                State::Done => {
                    // Some clients end with one more CRLF; anything else is an error.
                    if input.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        input.advance(input.len());
                    } else {
                        return Err(ChunkedError::TrailingBytes);
                    }
                }
            }
        }
        Ok(None)
    }

    /// Ends the body: the trailers (names in lower case), or why the body is incomplete. A body whose last
    /// trailer line is not followed by the final empty line is accepted, as AWS does.
    pub fn finish(mut self) -> Result<Vec<(String, String)>, ChunkedError> {
        match self.state {
            State::Done => Ok(self.trailers),
            State::Trailers => {
                if !self.line.is_empty() {
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    if !line.is_empty() {
                        self.trailers.push(parse_trailer(line)?);
                    }
                }
                Ok(self.trailers)
            }
            _ => Err(ChunkedError::Truncated),
        }
    }

    /// Collects bytes up to `\r\n`; the line without it once complete.
    fn take_line(&mut self, input: &mut Bytes) -> Result<Option<Vec<u8>>, ChunkedError> {
        match input.iter().position(|b| *b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&input[..i]);
                input.advance(i + 1);
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(ChunkedError::LineTooLong);
                }
                Ok(Some(line))
            }
            None => {
                self.line.extend_from_slice(input);
                input.advance(input.len());
                if self.line.len() > MAX_LINE {
                    return Err(ChunkedError::LineTooLong);
                }
                Ok(None)
            }
        }
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ChunkedError> {
    let size = match line.iter().position(|b| *b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    let size = size.trim_ascii();
    if size.is_empty() || size.len() > 16 {
        return Err(ChunkedError::BadChunkSize);
    }
    let mut n: u64 = 0;
    for &b in size {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ChunkedError::BadChunkSize),
        };
        n = (n << 4) | u64::from(digit);
    }
    Ok(n)
}

fn parse_trailer(line: &[u8]) -> Result<(String, String), ChunkedError> {
    let text = std::str::from_utf8(line).map_err(|_| ChunkedError::BadTrailer)?;
    let (name, value) = text.split_once(':').ok_or(ChunkedError::BadTrailer)?;
    let name = name.trim();
    if name.is_empty() || !text.is_ascii() {
        return Err(ChunkedError::BadTrailer);
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_all(pieces: &[&[u8]]) -> Result<Decoded, ChunkedError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        for piece in pieces {
            let mut input = Bytes::copy_from_slice(piece);
            while let Some(data) = d.decode(&mut input)? {
                out.extend_from_slice(&data);
            }
        }
        Ok((out, d.finish()?))
    }

    #[test]
    fn unsigned_chunks_with_a_checksum_trailer_decode() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (data, trailers) = decode_all(&[body]).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(trailers, vec![("x-amz-checksum-crc32".into(), "DUoRhQ==".into())]);
    }

    #[test]
    fn signed_chunks_decode_and_their_signatures_are_ignored() {
        let sig = "a".repeat(64);
        let body = format!(
            "3;chunk-signature={sig}\r\nabc\r\n0;chunk-signature={sig}\r\nx-amz-checksum-sha256:xyz=\r\nx-amz-trailer-signature:{sig}\r\n\r\n"
        );
        let (data, trailers) = decode_all(&[body.as_bytes()]).unwrap();
        assert_eq!(data, b"abc");
        assert_eq!(trailers.len(), 2);
        assert_eq!(trailers[0], ("x-amz-checksum-sha256".into(), "xyz=".into()));
    }

    #[test]
    fn a_body_split_at_every_byte_decodes_the_same() {
        let body = b"A\r\n0123456789\r\n1\r\nX\r\n0\r\nx-amz-checksum-crc32c:abc\r\n\r\n";
        let pieces: Vec<&[u8]> = body.chunks(1).collect();
        let (data, trailers) = decode_all(&pieces).unwrap();
        assert_eq!(data, b"0123456789X");
        assert_eq!(trailers[0].1, "abc");
    }

    #[test]
    fn a_missing_final_empty_line_is_accepted() {
        let (data, trailers) = decode_all(&[b"2\r\nhi\r\n0\r\nx-amz-checksum-crc32:q\r\n"]).unwrap();
        assert_eq!(data, b"hi");
        assert_eq!(trailers.len(), 1);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(decode_all(&[b"zz\r\n"]).unwrap_err(), ChunkedError::BadChunkSize);
        assert_eq!(
            decode_all(&[b"2\r\nhiX\r\n"]).unwrap_err(),
            ChunkedError::MissingCrlf
        );
        assert_eq!(decode_all(&[b"5\r\nhi"]).unwrap_err(), ChunkedError::Truncated);
        assert_eq!(
            decode_all(&[b"0\r\nnocolon\r\n\r\n"]).unwrap_err(),
            ChunkedError::BadTrailer
        );
        assert_eq!(
            decode_all(&[b"0\r\n\r\nmore"]).unwrap_err(),
            ChunkedError::TrailingBytes
        );
        assert_eq!(
            decode_all(&[&[b'1'; MAX_LINE + 1]]).unwrap_err(),
            ChunkedError::LineTooLong
        );
        assert_eq!(
            decode_all(&[b"11111111111111111\r\n"]).unwrap_err(),
            ChunkedError::BadChunkSize
        );
    }
}
