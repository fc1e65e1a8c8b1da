//! The client against what a real memcached cannot be made to do on demand: a closed port, a
//! silent listener, canned replies (errors, compressed values); and its checks of addresses
//! and sizes. The real servers are in the Python tests.

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::Ordering;

fn quick() -> Config {
    Config {
        connect_timeout: Duration::from_millis(200),
        timeout: Duration::from_millis(200),
        retry_interval: Duration::from_millis(100),
        ..Config::default()
    }
}

fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn durations_are_checked() {
    assert_eq!(
        duration(0.25, "timeout", false).unwrap(),
        Duration::from_millis(250)
    );
    assert_eq!(
        duration(0.0, "retry_interval", true).unwrap(),
        Duration::ZERO
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 86_401.0] {
        let error = duration(bad, "timeout", false).unwrap_err().to_string();
        assert!(error.contains("timeout"), "{bad}: {error}");
    }
}

#[test]
fn addresses_are_checked() {
    assert!(Client::new(vec![], quick()).is_err());
    assert!(Client::new(vec!["localhost".into()], quick()).is_err());
    assert!(Client::new(vec![":1".into()], quick()).is_err());
    assert!(Client::new(vec!["a:1".into(), "a:1".into()], quick()).is_err());
    assert!(Client::new(vec!["a:1".into(), "[::1]:11211".into()], quick()).is_ok());
}

#[test]
fn a_dead_server_costs_one_attempt_per_interval() {
    let client = Client::new(vec![closed_port()], quick()).unwrap();
    let first = client.get("k").unwrap_err();
    assert_eq!(first.kind, FailureKind::Connection);
    for _ in 0..10 {
        assert_eq!(client.get("k").unwrap_err().kind, FailureKind::Down);
        assert_eq!(
            client.set("k", b"v", 0).unwrap_err().kind,
            FailureKind::Down
        );
    }
    let stats = client.stats();
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 1);
    assert_eq!(stats.unavailable.load(Ordering::Relaxed), 20);
    assert_eq!(client.down().len(), 1);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(client.get("k").unwrap_err().kind, FailureKind::Connection);
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 2);
}

#[test]
fn a_silent_server_times_out_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::new(vec![listener.local_addr().unwrap().to_string()], quick()).unwrap();
    assert_eq!(client.get("k").unwrap_err().kind, FailureKind::Timeout);
    assert_eq!(client.get("k").unwrap_err().kind, FailureKind::Down);
    assert_eq!(client.stats().timeouts.load(Ordering::Relaxed), 1);
}

#[test]
fn oversized_values_are_not_sent() {
    let config = Config {
        max_value_size: 10,
        ..quick()
    };
    let client = Client::new(vec![closed_port()], config).unwrap();
    assert_eq!(client.set("k", &[0; 11], 0).unwrap(), Stored::TooLarge);
    assert_eq!(client.stats().attempts.load(Ordering::Relaxed), 0);
}

/// A one-connection fake memcached answering each request line with `reply`.
fn fake(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if reader.get_mut().write_all(reply).is_err() {
                break;
            }
            line.clear();
        }
    });
    address
}

#[test]
fn a_server_error_does_not_mark_the_server_down() {
    let client = Client::new(vec![fake(b"SERVER_ERROR out of memory\r\n")], quick()).unwrap();
    let failure = client.set("k", b"v", 0).unwrap_err();
    assert_eq!(failure.kind, FailureKind::Server, "{failure}");
    assert!(failure.to_string().contains("out of memory"), "{failure}");
    assert!(client.down().is_empty());
}

#[test]
fn compressed_values_are_inflated_on_read() {
    let packed = protocol::compress(&b"hello ".repeat(100)).unwrap();
    let reply: &'static [u8] = Box::leak(
        [
            format!("VA {} f8\r\n", packed.len()).into_bytes(),
            packed,
            b"\r\n".to_vec(),
        ]
        .concat()
        .into_boxed_slice(),
    );
    let client = Client::new(vec![fake(reply)], quick()).unwrap();
    assert_eq!(client.get("k").unwrap().unwrap(), b"hello ".repeat(100));
}
