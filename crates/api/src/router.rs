//! Which endpoint a request is for: the method and the path (after the
//! `/vX.Y` prefix), percent-decoded, with image names that contain `/`.

use hyper::Method;
use percent_encoding::percent_decode_str;

/// An endpoint and what its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Version,
    Info,
    SystemDf,
    Events,
    Auth,
    ImageList,
    ImageInspect(String),
    ImageHistory(String),
    ImageTag(String),
    ImageDelete(String),
    ContainerList,
    ContainerInspect(String),
    ContainerStart(String),
    ContainerStop(String),
    ContainerRestart(String),
    ContainerKill(String),
    ContainerPause(String),
    ContainerUnpause(String),
    ContainerWait(String),
    ContainerDelete(String),
    ContainerRename(String),
    ContainerLogs(String),
    ContainerTop(String),
    ContainerChanges(String),
    ContainerExport(String),
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl Route {
    /// The route for `method` on `path`, `None` when there is none.
    pub fn parse(method: &Method, path: &str) -> Option<Route> {
        if let Some(rest) = path.strip_prefix("/images/") {
            return image_route(method, rest);
        }
        let path = decode(path);
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let get = method == Method::GET;
        let head = method == Method::HEAD;
        let post = method == Method::POST;
        Some(match segments.as_slice() {
            ["_ping"] if get || head => Route::Ping,
            ["version"] if get => Route::Version,
            ["info"] if get => Route::Info,
            ["system", "df"] if get => Route::SystemDf,
            ["events"] if get => Route::Events,
            ["auth"] if post => Route::Auth,
            ["containers", "json"] if get => Route::ContainerList,
            ["containers", id] if method == Method::DELETE => {
                Route::ContainerDelete(id.to_string())
            }
            ["containers", id, action] => return container_route(method, id, action),
            _ => return None,
        })
    }
}

fn container_route(method: &Method, id: &str, action: &str) -> Option<Route> {
    let id = id.to_string();
    Some(match (method.as_str(), action) {
        ("GET", "json") => Route::ContainerInspect(id),
        ("POST", "start") => Route::ContainerStart(id),
        ("POST", "stop") => Route::ContainerStop(id),
        ("POST", "restart") => Route::ContainerRestart(id),
        ("POST", "kill") => Route::ContainerKill(id),
        ("POST", "pause") => Route::ContainerPause(id),
        ("POST", "unpause") => Route::ContainerUnpause(id),
        ("POST", "wait") => Route::ContainerWait(id),
        ("POST", "rename") => Route::ContainerRename(id),
        ("GET", "logs") => Route::ContainerLogs(id),
        ("GET", "top") => Route::ContainerTop(id),
        ("GET", "changes") => Route::ContainerChanges(id),
        ("GET", "export") => Route::ContainerExport(id),
        _ => return None,
    })
}

/// `/images/...`: the name may contain `/` (`localhost:5000/app`), so the
/// action is read from the end.
fn image_route(method: &Method, rest: &str) -> Option<Route> {
    let rest = rest.trim_end_matches('/');
    if method == Method::GET && rest == "json" {
        return Some(Route::ImageList);
    }
    if method == Method::DELETE {
        return (!rest.is_empty()).then(|| Route::ImageDelete(decode(rest)));
    }
    let (name, action) = rest.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    let name = decode(name);
    Some(match (method.as_str(), action) {
        ("GET", "json") => Route::ImageInspect(name),
        ("GET", "history") => Route::ImageHistory(name),
        ("POST", "tag") => Route::ImageTag(name),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_routes() {
        assert_eq!(Route::parse(&Method::GET, "/_ping"), Some(Route::Ping));
        assert_eq!(Route::parse(&Method::HEAD, "/_ping"), Some(Route::Ping));
        assert_eq!(Route::parse(&Method::POST, "/_ping"), None);
        assert_eq!(
            Route::parse(&Method::GET, "/version/"),
            Some(Route::Version)
        );
        assert_eq!(
            Route::parse(&Method::GET, "/system/df"),
            Some(Route::SystemDf)
        );
        assert_eq!(Route::parse(&Method::GET, "/nope"), None);
        assert_eq!(Route::parse(&Method::GET, "/"), None);
        assert_eq!(
            Route::parse(&Method::POST, "/containers/web/start"),
            Some(Route::ContainerStart("web".into()))
        );
        assert_eq!(
            Route::parse(&Method::DELETE, "/containers/abc"),
            Some(Route::ContainerDelete("abc".into()))
        );
        assert_eq!(Route::parse(&Method::GET, "/containers/abc/start"), None);
        assert_eq!(
            Route::parse(&Method::GET, "/containers/json"),
            Some(Route::ContainerList)
        );
    }

    #[test]
    fn image_names_may_hold_slashes() {
        assert_eq!(
            Route::parse(&Method::GET, "/images/json"),
            Some(Route::ImageList)
        );
        assert_eq!(
            Route::parse(&Method::GET, "/images/localhost:5000/app/json"),
            Some(Route::ImageInspect("localhost:5000/app".into()))
        );
        assert_eq!(
            Route::parse(&Method::GET, "/images/a%2Fb%40sha256:1/history"),
            Some(Route::ImageHistory("a/b@sha256:1".into()))
        );
        assert_eq!(
            Route::parse(&Method::POST, "/images/x/json/tag"),
            Some(Route::ImageTag("x/json".into()))
        );
        assert_eq!(
            Route::parse(&Method::DELETE, "/images/reg:5000/a/b:1"),
            Some(Route::ImageDelete("reg:5000/a/b:1".into()))
        );
        assert_eq!(Route::parse(&Method::GET, "/images//json"), None);
        assert_eq!(Route::parse(&Method::PUT, "/images/x/json"), None);
    }
}
