//! The aws-chunked decoder (S3 upload bodies): never panic, whatever the bytes and however they are split;
//! the payload handed out never exceeds the input, and a body decoded in one piece or byte by byte gives
//! the same payload and trailers.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

// The decoder depends on nothing but std and bytes, so it is compiled here on its own, without the
// emulator's SQLite and HTTP stack.
#[path = "../../emulator/src/s3/chunked.rs"]
#[allow(dead_code)]
mod chunked;

type Outcome = Result<(Vec<u8>, Vec<(String, String)>), chunked::ChunkedError>;

fn decode(pieces: impl Iterator<Item = Bytes>) -> Outcome {
    let mut d = chunked::ChunkedDecoder::new();
    let mut out = Vec::new();
    for mut input in pieces {
        while let Some(data) = d.decode(&mut input)? {
            out.extend_from_slice(&data);
        }
        assert!(
            input.is_empty(),
            "decode returns None only once its input is used up"
        );
    }
    Ok((out, d.finish()?))
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(std::iter::once(Bytes::copy_from_slice(data)));
    if let Ok((payload, _)) = &whole {
        assert!(payload.len() <= data.len());
    }
    let bytewise = decode(data.iter().map(|b| Bytes::copy_from_slice(&[*b])));
    assert_eq!(whole, bytewise);
});
