//! The harness the raw-protocol tests share: an embedded cluster served on 127.0.0.1:0 by the
//! wire server, and a client that speaks kafka-protocol frames to it over a real socket.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use stream_core::group::GroupConfig;
use stream_core::server::{ServerConfig, serve};
use stream_core::{BrokerConfig, Cluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Server {
    pub addr: SocketAddr,
    pub cluster: Cluster,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(|b| b, |s| s).await
    }

    pub async fn start_with(
        broker: impl FnOnce(BrokerConfig) -> BrokerConfig,
        server: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let groups = GroupConfig::default().with_group_initial_rebalance_delay_ms(0);
        let cluster = Cluster::embedded_with(broker(BrokerConfig::new(dir.path())), groups)
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = server(ServerConfig::new("127.0.0.1", addr.port()));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let cluster = cluster.clone();
            async move { serve(listener, cluster, config, stopped).await.unwrap() }
        });
        Server {
            addr,
            cluster,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub async fn client(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.unwrap(),
            correlation: 0,
        }
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        self.cluster.clone().shutdown().await;
    }
}

pub struct Client {
    pub stream: TcpStream,
    correlation: i32,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub fn frame<R: Encodable>(&mut self, api: ApiKey, version: i16, request: &R) -> Bytes {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("stream-core-tests")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, api.request_header_version(version))
            .unwrap();
        request
            .encode(&mut body, version)
            .unwrap_or_else(|e| panic!("encode {api:?} v{version}: {e}"));
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        frame.freeze()
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut len))
            .await
            .unwrap()
            .ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut body))
            .await
            .unwrap()
            .ok()?;
        Some(Bytes::from(body))
    }

    /// Reads one response of `api`/`version`, checking its correlation id.
    pub async fn response<T: Decodable>(&mut self, api: ApiKey, version: i16, correlation: i32) -> T {
        let mut frame = self.read_frame().await.expect("connection closed");
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, correlation, "responses out of order");
        T::decode(&mut frame, version).unwrap()
    }

    pub async fn call<R: Encodable, T: Decodable>(&mut self, api: ApiKey, version: i16, request: &R) -> T {
        let frame = self.frame(api, version, request);
        self.send_raw(&frame).await;
        self.response(api, version, self.correlation).await
    }

    /// True once the server has closed the connection (reads hit end of stream).
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(WAIT, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}
