//! docker's multiplexed stream format (moby's stdcopy): each chunk of
//! output behind an 8-byte header, the stream in the first byte and the
//! length big-endian in the last four. A TTY's output is sent raw.

use bytes::{BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdout = 1,
    Stderr = 2,
}

/// One frame of `data` on `stream`.
pub fn frame(stream: StdStream, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u8(stream as u8);
    b.put_bytes(0, 3);
    b.put_u32(u32::try_from(data.len()).expect("frames are smaller than 4 GiB"));
    b.put_slice(data);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_dockers_header() {
        assert_eq!(
            &frame(StdStream::Stderr, b"hi")[..],
            &[2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']
        );
        assert_eq!(
            &frame(StdStream::Stdout, b"")[..],
            &[1, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
