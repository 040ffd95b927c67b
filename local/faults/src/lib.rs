//! Faults on demand, for the tests and the soak:
//!
//! - [`TcpProxy`]: a TCP forwarder that can be taken down (its port closed,
//!   every open connection cut) and brought back on the same port — a
//!   database becoming unreachable and recovering;
//! - [`HttpFaultProxy`]: an HTTP forwarder in front of an AWS endpoint
//!   (DynamoDB Local, moto) that, while a [`Fault`] is set, answers a share
//!   of the matching requests with the service's own error, so that the
//!   SDK's retries and the platform's own redeliveries meet it;
//! - [`drill::OutageDrill`]: the consumers' outage drill on a real queue.

pub mod drill;
mod http_proxy;
mod tcp_proxy;

pub use http_proxy::{Fault, FaultCounts, HttpFaultProxy, Operation, ProxyError};
pub use tcp_proxy::TcpProxy;
