//! Which `ADD` sources are archives, as docker decides it: by content, not
//! by name. The compression (none, gzip, bzip2, xz or zstd) is recognised
//! from the first bytes; the file is an archive when what it decompresses
//! to starts with a tar header whose checksum is right. Anything else,
//! a file that fails to decompress included, is copied as it is.

use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

const BLOCK: usize = 512;

fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The uncompressed stream of `reader`, whatever its compression.
pub(crate) fn decompressed<'a>(reader: Box<dyn Read + 'a>) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let compression = detect(buffered.fill_buf()?);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        // Every member, as gzip -d does.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

/// Whether a tar header block is one: its checksum field matches the sum
/// of its bytes (counting the field as spaces), unsigned or signed as
/// tar implementations have written it.
fn is_tar_header(block: &[u8; BLOCK]) -> bool {
    if block.iter().all(|&b| b == 0) {
        return false;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(stored) = i64::from_str_radix(&digits, 8) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (index, &byte) in block.iter().enumerate() {
        let byte = if (148..156).contains(&index) {
            b' '
        } else {
            byte
        };
        unsigned += i64::from(byte);
        signed += i64::from(byte as i8);
    }
    stored == unsigned || stored == signed
}

/// Whether `reader` holds a tar archive, possibly compressed.
pub(crate) fn is_archive(reader: Box<dyn Read + '_>) -> io::Result<bool> {
    let mut stream = decompressed(reader)?;
    let mut block = [0u8; BLOCK];
    let mut filled = 0;
    while filled < BLOCK {
        match stream.read(&mut block[filled..]) {
            Ok(0) => return Ok(false),
            Ok(read) => filled += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A stream that does not decompress is not an archive.
            Err(_) => return Ok(false),
        }
    }
    Ok(is_tar_header(&block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn archive(bytes: Vec<u8>) -> bool {
        is_archive(Box::new(io::Cursor::new(bytes))).unwrap()
    }

    fn unpacked(bytes: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decompressed(Box::new(io::Cursor::new(bytes)))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn archives_are_known_by_content_in_every_compression() {
        let tar = tar_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        let xz = xz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        for compressed in [tar.clone(), gz, bz, xz, zst] {
            assert!(archive(compressed.clone()));
            assert_eq!(unpacked(compressed), tar);
        }
    }

    #[test]
    fn other_files_are_not_archives() {
        assert!(!archive(Vec::new()));
        assert!(!archive(b"just some text\n".repeat(100)));
        assert!(!archive(vec![0u8; 1024]));
        // A gzip stream of text, and a broken gzip stream.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"not a tar\n".repeat(100)).unwrap();
        assert!(!archive(gz.finish().unwrap()));
        assert!(!archive(vec![0x1f, 0x8b, 0x08, 0, 1, 2, 3]));
        // A damaged header.
        let mut tar = tar_bytes();
        tar[0] ^= 1;
        assert!(!archive(tar));
    }
}
