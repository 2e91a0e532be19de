use std::path::Path;

use anyhow::Result;
use berth_engine::{Filters, ImageFilter};
use serde_json::{json, Value};

use crate::format::{go_time, human_size, print_rows, since};

#[derive(clap::Args)]
pub struct Args {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Filter output based on conditions provided (dangling=, reference=, label=, before=, since=, until=)
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a Go template, "table", "table TEMPLATE" or "json"
    #[arg(long)]
    format: Option<String>,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

const HEADERS: &str = r#"{"Containers":"CONTAINERS","CreatedAt":"CREATED AT","CreatedSince":"CREATED","Digest":"DIGEST","ID":"IMAGE ID","Repository":"REPOSITORY","SharedSize":"SHARED SIZE","Size":"SIZE","Tag":"TAG","UniqueSize":"UNIQUE SIZE","VirtualSize":"VIRTUAL SIZE"}"#;

/// (repository, tag, digest) rows of one image, as the docker CLI
/// flattens a summary: a row per tag, with its repository's digest; a
/// row with no tag for each repository it is known in only by digest;
/// one `<none>` row for an image with neither.
type Row = (Option<String>, Option<String>, Option<String>);

fn rows_of(repo_tags: &[String], repo_digests: &[String]) -> Vec<Row> {
    let split_digest = |d: &String| {
        d.split_once('@')
            .map(|(repo, digest)| (repo.to_string(), digest.to_string()))
    };
    let mut digests: Vec<(String, String)> = repo_digests.iter().filter_map(split_digest).collect();
    let mut rows = Vec::new();
    for tag in repo_tags {
        // The tag follows the last colon after the last slash.
        let (repo, tag) = match tag.rfind(':').filter(|i| !tag[*i..].contains('/')) {
            Some(i) => (tag[..i].to_string(), tag[i + 1..].to_string()),
            None => (tag.clone(), "latest".to_string()),
        };
        let digest = digests
            .iter()
            .find(|(r, _)| *r == repo)
            .map(|(_, d)| d.clone());
        rows.push((Some(repo), Some(tag), digest));
    }
    digests.retain(|(repo, _)| !rows.iter().any(|(r, _, _)| r.as_deref() == Some(repo)));
    for (repo, digest) in digests {
        rows.push((Some(repo), None, Some(digest)));
    }
    if rows.is_empty() {
        rows.push((None, None, None));
    }
    rows
}

pub fn run(root: &Path, a: Args) -> Result<u8> {
    let mut filter = ImageFilter::new(&Filters::from_cli(&a.filter)?)?;
    if let Some(r) = &a.reference {
        filter = filter.with_reference(r);
    }
    filter.all = a.all;
    let engine = super::open(root)?;
    let mut values: Vec<Value> = Vec::new();
    for image in engine.list_images(&filter)? {
        let id = if a.no_trunc {
            image.id.to_string()
        } else {
            image.id.short().to_string()
        };
        for (repository, tag, digest) in rows_of(&image.repo_tags, &image.repo_digests) {
            values.push(json!({
                "Containers": "N/A",
                "CreatedAt": go_time(image.created),
                "CreatedSince": since(image.created),
                "Digest": digest.as_deref().unwrap_or("<none>"),
                "ID": id,
                "Repository": repository.as_deref().unwrap_or("<none>"),
                "SharedSize": "N/A",
                "Size": human_size(image.size),
                "Tag": tag.as_deref().unwrap_or("<none>"),
                "UniqueSize": "N/A",
                "VirtualSize": human_size(image.size),
            }));
        }
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if a.quiet { None } else { a.format.as_deref() };
    print_rows(format, default, &serde_json::from_str(HEADERS)?, &values)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn summaries_flatten_as_the_docker_cli_does() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(rows_of(&[], &[]), [(None, None, None)]);
        assert_eq!(
            rows_of(
                &strings(&["busybox:latest", "localhost:5000/bb:v1"]),
                &strings(&["busybox@sha256:1", "other@sha256:2"])
            ),
            [
                (s("busybox"), s("latest"), s("sha256:1")),
                (s("localhost:5000/bb"), s("v1"), None),
                (s("other"), None, s("sha256:2")),
            ]
        );
    }
}
