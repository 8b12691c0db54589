//! Serving on N single-threaded runtimes (`server.runtimes = N`) instead of one runtime with
//! a worker per core. Each runtime has its own thread, its own listening socket on the same
//! address (SO_REUSEPORT: the kernel spreads new connections among the sockets) and its own
//! connections to the members (`member::Member::client`), so a request stays on one thread
//! from accept to answer, apart from the classifier worker. Fewer threads wake each other per
//! request, which is what a sub-millisecond tail is made of on small (virtual) machines;
//! the price is that one busy connection cannot spread over two cores. Everything else (the
//! classifier worker, breakers, metrics, the in-flight limit) is shared.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::{Builder, Runtime};

use crate::gateway::Gateway;
use crate::http::{AbortOnDrop, router, serve_app};
use crate::member::enter_runtime;

/// The runtimes, each with its socket bound and listening.
pub struct Runtimes {
    each: Vec<(Runtime, TcpListener)>,
    addr: SocketAddr,
}

impl Runtimes {
    /// Builds `n` (at least one) single-threaded runtimes and binds one socket each to
    /// `listen` (port 0: the first socket's port, for all).
    pub fn bind(listen: SocketAddr, n: usize) -> std::io::Result<Runtimes> {
        #[cfg(not(unix))]
        if n > 1 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "server.runtimes above 1 needs SO_REUSEPORT (a Unix system)",
            ));
        }
        let mut addr = listen;
        let mut each = Vec::with_capacity(n.max(1));
        for _ in 0..n.max(1) {
            let rt = Builder::new_current_thread().enable_all().build()?;
            let listener = {
                let _in = rt.enter();
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.set_reuseaddr(true)?;
                #[cfg(unix)]
                socket.set_reuseport(true)?;
                socket.bind(addr)?;
                socket.listen(1024)?
            };
            addr = listener.local_addr()?;
            each.push((rt, listener));
        }
        Ok(Runtimes { each, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves on every runtime until the future `shutdown()` makes (run on the first
    /// runtime) resolves; then each runtime stops accepting and drains its in-flight
    /// requests (at most the drain timeout). Returns the first runtime's error, if any.
    pub fn serve<F>(
        self,
        gw: Arc<Gateway>,
        api_keys: Vec<String>,
        shutdown: impl FnOnce() -> F + Send + 'static,
    ) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let drain = gw.config().server.drain_timeout;
        let app = router(gw.clone(), api_keys); // one in-flight limit for all runtimes
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut shutdown = Some(shutdown);
        let mut threads = Vec::with_capacity(self.each.len());
        for (i, (rt, listener)) in self.each.into_iter().enumerate() {
            let (app, gw, mut rx) = (app.clone(), gw.clone(), rx.clone());
            let first = shutdown.take().map(|s| (s, tx.clone()));
            let stopped = async move {
                let _ = rx.wait_for(|v| *v).await;
            };
            let thread = std::thread::Builder::new()
                .name(format!("selectllm-http-{i}"))
                .spawn(move || {
                    enter_runtime(i);
                    rt.block_on(async move {
                        // the first runtime also probes the members and waits for the signal
                        let _jobs = first.map(|(signal, tx)| {
                            let stop = tokio::spawn(async move {
                                signal().await;
                                let _ = tx.send(true);
                            });
                            (
                                AbortOnDrop(stop),
                                AbortOnDrop(tokio::spawn(gw.run_prober())),
                            )
                        });
                        serve_app(app, drain, listener, stopped).await
                    })
                })?;
            threads.push(thread);
        }
        drop(tx);
        let mut result = Ok(());
        for t in threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a serving thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}
