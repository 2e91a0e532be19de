//! The accept loops and the request dispatcher.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, SERVER};
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::engines::Engines;
use crate::error::ApiError;
use crate::http::{self, Query, Response};
use crate::router::Route;
use crate::version::split_version;
use crate::{containers, events, images, system, Ctx};

pub(crate) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

/// Serves every listener until SIGINT or SIGTERM.
pub(crate) async fn run(listeners: Vec<Listener>, engines: Arc<Engines>) -> Result<(), ApiError> {
    for listener in listeners {
        let engines = Arc::clone(&engines);
        tokio::spawn(accept_loop(listener, engines));
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| ApiError::io("wait for SIGTERM", e))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: containers keep running under their monitors");
    Ok(())
}

async fn accept_loop(listener: Listener, engines: Arc<Engines>) {
    loop {
        match &listener {
            Listener::Unix(l) => match l.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&engines)));
                }
                Err(e) => accept_failed(e).await,
            },
            Listener::Tcp(l, tls) => match l.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let engines = Arc::clone(&engines);
                    match tls.clone() {
                        None => {
                            tokio::spawn(serve_connection(stream, engines));
                        }
                        Some(acceptor) => {
                            tokio::spawn(async move {
                                match acceptor.accept(stream).await {
                                    Ok(stream) => serve_connection(stream, engines).await,
                                    Err(e) => tracing::info!("TLS handshake with {peer}: {e}"),
                                }
                            });
                        }
                    }
                }
                Err(e) => accept_failed(e).await,
            },
        }
    }
}

/// Out of file descriptors (or a similar passing failure): wait a little
/// rather than spin.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!("accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

async fn serve_connection<I>(io: I, engines: Arc<Engines>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let engines = Arc::clone(&engines);
        async move { Ok::<_, Infallible>(handle(engines, req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
    {
        tracing::debug!("connection: {e}");
    }
}

async fn handle(engines: Arc<Engines>, req: Request<Incoming>) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = match dispatch(engines, req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!("{method} {path}: {e}");
            } else {
                tracing::debug!("{method} {path}: {e}");
            }
            http::error(&e)
        }
    };
    tracing::debug!("{method} {path} -> {}", response.status());
    // The headers docker puts on every answer.
    let h = response.headers_mut();
    h.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(berth_engine::API_VERSION),
    );
    h.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    h.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
    h.insert(
        SERVER,
        HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    response
}

async fn dispatch(engines: Arc<Engines>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (_version, path) = split_version(req.uri().path())?;
    let route = Route::parse(req.method(), path).ok_or(ApiError::NoSuchEndpoint)?;
    let ctx = Ctx {
        engines,
        query: Query::parse(req.uri().query()),
    };
    let head = req.method() == Method::HEAD;
    match route {
        Route::Ping => Ok(system::ping(head)),
        Route::Version => Ok(system::version()),
        Route::Auth => system::auth(&ctx, req.into_body()).await,
        Route::ImageList => images::list(&ctx).await,
        Route::ImageInspect(name) => images::inspect(&ctx, name).await,
        Route::ImageHistory(name) => images::history(&ctx, name).await,
        Route::ImageTag(name) => images::tag(&ctx, name).await,
        Route::ImageDelete(name) => images::delete(&ctx, name).await,
        Route::Info => system::info(&ctx).await,
        Route::Events => events::events(&ctx),
        Route::ContainerList => containers::list(&ctx).await,
        Route::ContainerInspect(id) => containers::inspect(&ctx, id).await,
        Route::ContainerStart(id) => containers::start(&ctx, id).await,
        Route::ContainerStop(id) => containers::stop(&ctx, id).await,
        Route::ContainerRestart(id) => containers::restart(&ctx, id).await,
        Route::ContainerKill(id) => containers::kill(&ctx, id).await,
        Route::ContainerPause(id) => containers::pause(&ctx, id, true).await,
        Route::ContainerUnpause(id) => containers::pause(&ctx, id, false).await,
        Route::ContainerWait(id) => containers::wait(&ctx, id).await,
        Route::ContainerDelete(id) => containers::delete(&ctx, id).await,
        Route::ContainerRename(id) => containers::rename(&ctx, id).await,
        Route::ContainerLogs(id) => containers::logs(&ctx, id).await,
        Route::ContainerTop(id) => containers::top(&ctx, id).await,
        Route::ContainerChanges(id) => containers::changes(&ctx, id).await,
        Route::ContainerExport(id) => containers::export(&ctx, id).await,
        Route::SystemDf => Err(ApiError::NotImplemented(
            "berth serve does not answer this yet".into(),
        )),
    }
}
