use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// A TCP forwarder to `target` that can be taken down (its port closed and
/// every open connection cut) and brought back on the same port.
pub struct TcpProxy {
    pub port: u16,
    target: String,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    cut: broadcast::Sender<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `target` (`host:port`).
    pub async fn start(target: impl Into<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut proxy = TcpProxy { port, target: target.into(), running: None, cut: broadcast::channel(1).0 };
        proxy.serve(listener);
        Ok(proxy)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = oneshot::channel();
        let (target, cut) = (self.target.clone(), self.cut.clone());
        let accepting = tokio::spawn(async move {
            loop {
                let mut inbound = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((inbound, _)) => inbound,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => return,
                };
                let (target, mut cut) = (target.clone(), cut.subscribe());
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        self.running = Some((stop, accepting));
    }

    /// Closes the port and cuts every open connection.
    pub async fn down(&mut self) {
        if let Some((stop, accepting)) = self.running.take() {
            let _ = stop.send(());
            let _ = accepting.await;
        }
        let _ = self.cut.send(());
    }

    /// Listens on the same port again.
    pub async fn up(&mut self) -> std::io::Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.serve(listener);
        Ok(())
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some((_, accepting)) = self.running.take() {
            accepting.abort();
        }
        let _ = self.cut.send(());
    }
}
