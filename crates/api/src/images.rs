//! `/images/...`: list, inspect, history, tag, delete.

use berth_engine::{ImageFilter, RmiEvent};
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::Ctx;

/// `GET /images/json`: one entry per image, with all its tags.
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut filter = ImageFilter::new(&ctx.query.filters()?)?;
    filter.all = ctx.query.bool("all");
    let images = ctx
        .engines
        .run(move |engine| Ok(engine.list_images(&filter)?))
        .await?;
    let v: Vec<Value> = images
        .iter()
        .map(|i| {
            json!({
                "Id": i.id.to_string(),
                "ParentId": "",
                "RepoTags": i.repo_tags,
                "RepoDigests": i.repo_digests,
                "Created": i.created.map(|c| c.timestamp()).unwrap_or(0),
                "Size": i.size,
                "VirtualSize": i.size,
                "SharedSize": -1,
                "Labels": i.labels,
                "Containers": i.containers,
            })
        })
        .collect();
    Ok(http::ok_json(&v))
}

/// `GET /images/{name}/json`.
pub async fn inspect(ctx: &Ctx, name: String) -> Result<Response, ApiError> {
    let v = ctx
        .engines
        .run(move |engine| Ok(engine.inspect_image(&name)?))
        .await?;
    Ok(http::ok_json(&v))
}

/// `GET /images/{name}/history`.
pub async fn history(ctx: &Ctx, name: String) -> Result<Response, ApiError> {
    let (entries, tags) = ctx
        .engines
        .run(move |engine| {
            let entries = engine.history(&name)?;
            let tags = engine.inspect_image(&name)?["RepoTags"].clone();
            Ok((entries, tags))
        })
        .await?;
    let v: Vec<Value> = entries
        .iter()
        .map(|h| {
            json!({
                "Id": h.id.as_ref().map(|d| d.to_string()).unwrap_or_else(|| "<missing>".into()),
                "Created": h.created.map(|c| c.timestamp()).unwrap_or(0),
                "CreatedBy": h.created_by,
                "Tags": if h.id.is_some() { tags.clone() } else { Value::Null },
                "Size": h.size,
                "Comment": h.comment,
            })
        })
        .collect();
    Ok(http::ok_json(&v))
}

/// `POST /images/{name}/tag?repo=R&tag=T`: `201 Created`.
pub async fn tag(ctx: &Ctx, name: String) -> Result<Response, ApiError> {
    let repo = ctx
        .query
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must have at least one component"))?
        .to_string();
    let target = match ctx.query.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    ctx.engines
        .run(move |engine| Ok(engine.tag(&name, &target)?))
        .await?;
    Ok(http::status(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force=`: what was untagged and deleted.
pub async fn delete(ctx: &Ctx, name: String) -> Result<Response, ApiError> {
    let force = ctx.query.bool("force");
    let events = ctx
        .engines
        .run(move |engine| Ok(engine.remove_image(&name, force)?))
        .await?;
    let v: Vec<Value> = events
        .iter()
        .map(|e| match e {
            RmiEvent::Untagged(t) => json!({ "Untagged": t }),
            RmiEvent::Deleted(d) => json!({ "Deleted": d.to_string() }),
        })
        .collect();
    Ok(http::ok_json(&v))
}
