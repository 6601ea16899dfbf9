//! A small etcd v3 client over etcd's JSON gateway (`POST /v3/...`, keys and
//! values base64): leases, put, prefix range, the two transactions ownership needs
//! and a watch used as a wake-up. It speaks HTTP/1 through hyper, which the daemon
//! already has, so no protobuf compiler is needed to build conmand.
//!
//! Every call tries the endpoints in turn (the last one that answered first), with
//! a per-request timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64ct::{Base64, Encoding};
use conmand_core::alerts::url::HttpUrl;
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// Operations in one transaction (etcd's default `--max-txn-ops` is 128).
pub const MAX_TXN_OPS: usize = 100;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EtcdError(pub String);

/// A key-value pair as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// The revision that created it (the fencing number of an ownership key).
    pub create_revision: i64,
    /// Its lease (0: none).
    pub lease: i64,
}

/// The client.
pub struct Etcd {
    endpoints: Vec<HttpUrl>,
    current: AtomicUsize,
}

fn b64(s: &str) -> String {
    Base64::encode_string(s.as_bytes())
}

fn unb64(v: &Value) -> String {
    v.as_str()
        .and_then(|s| Base64::decode_vec(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// etcd's int64s arrive as JSON strings.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The end of the range of keys starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0xff {
            b.push(last + 1);
            return Base64::encode_string(&b);
        }
    }
    Base64::encode_string(&[0])
}

impl Etcd {
    /// A client for `endpoints` (`http://HOST:PORT`).
    pub fn new(endpoints: &[String]) -> Result<Etcd, EtcdError> {
        let endpoints = endpoints
            .iter()
            .map(|u| HttpUrl::parse(u).map_err(|e| EtcdError(format!("{u}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(EtcdError("no etcd endpoint".into()));
        }
        Ok(Etcd {
            endpoints,
            current: AtomicUsize::new(0),
        })
    }

    /// One gateway call, trying every endpoint once.
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let start = self.current.load(Ordering::Relaxed);
        let mut last = EtcdError("no etcd endpoint".into());
        for k in 0..self.endpoints.len() {
            let i = (start + k) % self.endpoints.len();
            let url = &self.endpoints[i];
            match tokio::time::timeout(REQUEST_TIMEOUT, post(url, path, &body)).await {
                Ok(Ok(v)) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Ok(Err(e)) => last = EtcdError(format!("{}:{}: {e}", url.host, url.port)),
                Err(_) => last = EtcdError(format!("{}:{}: timed out", url.host, url.port)),
            }
        }
        Err(last)
    }

    /// A lease of `ttl` seconds.
    pub async fn grant(&self, ttl: u32) -> Result<i64, EtcdError> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl })).await?;
        match int(&v["ID"]) {
            0 => Err(EtcdError(format!("no lease in {v}"))),
            id => Ok(id),
        }
    }

    /// Renew `lease`: its remaining TTL in seconds, 0 when it is gone.
    pub async fn keepalive(&self, lease: i64) -> Result<i64, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(int(&v["result"]["TTL"]))
    }

    /// Seconds left on `lease` (0: gone).
    pub async fn time_to_live(&self, lease: i64) -> Result<i64, EtcdError> {
        let v = self
            .call("/v3/lease/timetolive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(int(&v["TTL"]).max(0))
    }

    /// Give `lease` up (its keys go at once).
    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
            .map(|_| ())
    }

    /// Put `key` = `value` under `lease`.
    pub async fn put(&self, key: &str, value: &str, lease: i64) -> Result<(), EtcdError> {
        self.call(
            "/v3/kv/put",
            json!({ "key": b64(key), "value": b64(value), "lease": lease.to_string() }),
        )
        .await
        .map(|_| ())
    }

    /// Every key starting with `prefix`.
    pub async fn range_prefix(&self, prefix: &str) -> Result<Vec<Kv>, EtcdError> {
        let v = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix), "range_end": prefix_end(prefix) }),
            )
            .await?;
        Ok(kvs(&v["kvs"]))
    }

    /// Create `key` = `value` under `lease` if it does not exist: `Ok(Some(rev))`
    /// with its create revision (the fencing number), `Ok(None)` if someone has it.
    pub async fn create(
        &self,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<Option<i64>, EtcdError> {
        let k = b64(key);
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                    "success": [{ "request_put": { "key": k, "value": b64(value), "lease": lease.to_string() } }],
                    "failure": [],
                }),
            )
            .await?;
        if v["succeeded"].as_bool() == Some(true) {
            Ok(Some(int(&v["header"]["revision"])))
        } else {
            Ok(None)
        }
    }

    /// Create every key of `keys` = `value` under `lease` in one transaction, if none
    /// of them exists: `Ok(Some(rev))` (the create revision of all of them), or
    /// `Ok(None)` when one exists (nothing was written). At most [`MAX_TXN_OPS`].
    pub async fn create_all(
        &self,
        keys: &[String],
        value: &str,
        lease: i64,
    ) -> Result<Option<i64>, EtcdError> {
        let compare: Vec<Value> = keys
            .iter()
            .map(|k| json!({ "key": b64(k), "target": "CREATE", "result": "EQUAL", "create_revision": "0" }))
            .collect();
        let success: Vec<Value> = keys
            .iter()
            .map(|k| json!({ "request_put": { "key": b64(k), "value": b64(value), "lease": lease.to_string() } }))
            .collect();
        let v = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": success, "failure": [] }),
            )
            .await?;
        if v["succeeded"].as_bool() == Some(true) {
            Ok(Some(int(&v["header"]["revision"])))
        } else {
            Ok(None)
        }
    }

    /// Delete `key` if its value is `value` (ours).
    pub async fn delete_if(&self, key: &str, value: &str) -> Result<bool, EtcdError> {
        let k = b64(key);
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": k, "target": "VALUE", "result": "EQUAL", "value": b64(value) }],
                    "success": [{ "request_delete_range": { "key": k } }],
                    "failure": [],
                }),
            )
            .await?;
        Ok(v["succeeded"].as_bool() == Some(true))
    }

    /// Watch every key under `prefix`; `on_change` is called once the watch is
    /// set up and after every change. Returns when the stream breaks.
    pub async fn watch(&self, prefix: &str, mut on_change: impl FnMut()) -> Result<(), EtcdError> {
        let url = &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()];
        let body =
            json!({ "create_request": { "key": b64(prefix), "range_end": prefix_end(prefix) } });
        let mut resp = open(url, "/v3/watch", &body).await.map_err(EtcdError)?;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = resp.frame().await {
            let frame = frame.map_err(|e| EtcdError(e.to_string()))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            buf.extend_from_slice(data);
            // The stream is one JSON object per message, back to back.
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            let mut used = 0;
            while let Some(Ok(v)) = it.next() {
                used = it.byte_offset();
                if v.get("error").is_some() {
                    return Err(EtcdError(format!("watch: {v}")));
                }
                on_change();
            }
            buf.drain(..used);
        }
        Err(EtcdError("watch stream ended".into()))
    }
}

fn kvs(v: &Value) -> Vec<Kv> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| Kv {
                    key: unb64(&kv["key"]),
                    value: unb64(&kv["value"]),
                    create_revision: int(&kv["create_revision"]),
                    lease: int(&kv["lease"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

type Body = http_body_util::Full<bytes::Bytes>;

/// Send one POST and return the response (its body still to read).
async fn open(
    url: &HttpUrl,
    path: &str,
    body: &Value,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| conmand_core::oserror::strerror(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Body>(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, url.host_header())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Body::new(bytes::Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let res = send.send_request(req).await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("answered {}", res.status()));
    }
    Ok(res)
}

async fn post(url: &HttpUrl, path: &str, body: &Value) -> Result<Value, String> {
    let res = open(url, path, body).await?;
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    // A streaming endpoint (keepalive) answers `{"result": …}`; take the first value.
    let mut it = serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) => {
            if let Some(e) = v.get("error") {
                Err(format!("etcd: {e}"))
            } else {
                Ok(v)
            }
        }
        _ => Err(format!("not JSON: {}", String::from_utf8_lossy(&bytes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_and_base64() {
        assert_eq!(prefix_end("/conman/"), b64("/conman0"));
        assert_eq!(unb64(&Value::String(b64("/x/y"))), "/x/y");
        assert_eq!(int(&Value::String("42".into())), 42);
        assert_eq!(int(&json!(7)), 7);
    }
}
