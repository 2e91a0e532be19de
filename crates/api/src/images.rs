//! `/images/...`: list, inspect, history, tag, delete.

use std::collections::BTreeMap;

use berth_engine::{ImageFilter, RmiEvent};
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::Ctx;

/// `GET /images/json`: one entry per image, with all its tags.
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut filter = ImageFilter::parse(&http::filters(&ctx.query)?)?;
    filter.all = ctx.query.bool("all");
    let images = ctx
        .engines
        .run(move |engine| {
            let rows = engine.list_images(&filter)?;
            // The engine lists by tag; the API wants one entry per image.
            let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
            let mut order = Vec::new();
            for row in rows {
                let id = row.id.to_string();
                let entry = by_id.entry(id.clone()).or_insert_with(|| {
                    order.push(id.clone());
                    json!({
                        "Id": id,
                        "ParentId": "",
                        "RepoTags": [],
                        "RepoDigests": [],
                        "Created": row.created.map(|c| c.timestamp()).unwrap_or(0),
                        "Size": row.size,
                        "VirtualSize": row.size,
                        "SharedSize": -1,
                        "Labels": {},
                        "Containers": -1,
                    })
                });
                if let (Some(repo), Some(tag)) = (&row.repository, &row.tag) {
                    push_unique(&mut entry["RepoTags"], format!("{repo}:{tag}"));
                }
                if let (Some(repo), Some(digest)) = (&row.repository, &row.digest) {
                    push_unique(&mut entry["RepoDigests"], format!("{repo}@{digest}"));
                }
            }
            for id in &order {
                let labels = engine.inspect_image(id)?["Config"]["Labels"].clone();
                if labels.is_object() {
                    by_id.get_mut(id).expect("listed image")["Labels"] = labels;
                }
            }
            Ok(order
                .into_iter()
                .filter_map(|id| by_id.remove(&id))
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(http::ok_json(&images))
}

fn push_unique(list: &mut Value, item: String) {
    if let Some(v) = list.as_array_mut() {
        if !v.iter().any(|x| x.as_str() == Some(&item)) {
            v.push(Value::String(item));
        }
    }
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
