//! `ADD <http(s) url>`: the file is downloaded into an unnamed temporary
//! file in the store's staging directory (nothing is left behind if the
//! build dies), hashed as it streams. As docker: the name comes from the
//! URL's path (else `Content-Disposition`), the modification time from
//! `Last-Modified`.

use std::fs::File;
use std::io;
use std::path::Path;

use berth_store::HashingReader;

/// A downloaded file.
pub(crate) struct Download {
    pub file: File,
    /// Empty when neither the URL nor the response gives one.
    pub name: String,
    pub digest: berth_build::Digest,
    pub size: u64,
    /// Seconds since the epoch: `Last-Modified`, else the download time.
    pub mtime: i64,
}

/// Whether an `ADD` source is a URL to download, as docker tells.
pub(crate) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// `%XX` escapes decoded; invalid ones are kept as written.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last segment of the URL's path, if it names a file.
fn name_from_url(url: &reqwest::Url) -> Option<String> {
    let path = percent_decoded(url.path());
    let last = path.rsplit('/').next()?;
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

/// `filename` of a `Content-Disposition` header, without any directory.
fn name_from_disposition(value: &str) -> Option<String> {
    let name = value.split(';').map(str::trim).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("filename")
            .then(|| value.trim().trim_matches('"').to_string())
    })?;
    let base = name.rsplit('/').next().unwrap_or_default().to_string();
    (!base.is_empty() && base != "." && base != "..").then_some(base)
}

/// Downloads `url` into `staging`.
pub(crate) fn fetch(url: &str, staging: &Path) -> Result<Download, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url}: {e}"))?;
    let client = reqwest::blocking::Client::builder()
        .build()
        .map_err(|e| format!("set up the HTTP client: {e}"))?;
    let response = client
        .get(parsed.clone())
        .send()
        .map_err(|e| format!("failed to GET {url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("failed to GET {url} with status {status}"));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let name = name_from_url(&parsed)
        .or_else(|| {
            header(reqwest::header::CONTENT_DISPOSITION)
                .as_deref()
                .and_then(name_from_disposition)
        })
        .unwrap_or_default();
    let mtime = header(reqwest::header::LAST_MODIFIED)
        .and_then(|value| chrono::DateTime::parse_from_rfc2822(&value).ok())
        .map_or_else(|| chrono::Utc::now().timestamp(), |time| time.timestamp());
    let mut file = tempfile::tempfile_in(staging)
        .map_err(|e| format!("create a file in {}: {e}", staging.display()))?;
    let mut body = HashingReader::new(response);
    io::copy(&mut body, &mut file).map_err(|e| format!("failed to download {url}: {e}"))?;
    let (digest, size) = body
        .finish()
        .map_err(|e| format!("failed to download {url}: {e}"))?;
    let digest = berth_build::Digest::from_hex(digest.hex())
        .ok_or_else(|| format!("failed to download {url}: bad digest"))?;
    tracing::debug!(%url, size, %digest, "downloaded");
    Ok(Download {
        file,
        name,
        digest,
        size,
        mtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_url_path_or_the_disposition() {
        let name = |url: &str| name_from_url(&reqwest::Url::parse(url).unwrap());
        assert_eq!(
            name("http://h/a/b/file.tar.gz?x=1").as_deref(),
            Some("file.tar.gz")
        );
        assert_eq!(name("http://h/a/my%20file").as_deref(), Some("my file"));
        assert_eq!(name("http://h/dir/"), None);
        assert_eq!(name("http://h"), None);
        assert_eq!(
            name_from_disposition("attachment; filename=\"../x/report.txt\"").as_deref(),
            Some("report.txt")
        );
        assert_eq!(name_from_disposition("inline"), None);
        assert!(is_url("https://example.test/x") && !is_url("httpdocs/x"));
    }
}
