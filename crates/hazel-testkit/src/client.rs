//! A small JSON client for the API, with fixture builders for common setup.

use reqwest::Method;
use serde_json::{Value, json};

/// An HTTP answer: status, headers and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Body as JSON.
    pub body: Value,
    /// Body as text.
    pub text: String,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// Asserts the status and returns `self`, printing the body on mismatch.
    ///
    /// # Panics
    /// When the status differs.
    #[track_caller]
    pub fn expect_status(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// `body.data`.
    #[must_use]
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// `body.error.code`.
    #[must_use]
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// `body.error.field`.
    #[must_use]
    pub fn error_field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    /// `body.transactionId` as a number.
    ///
    /// # Panics
    /// When absent or not numeric.
    #[track_caller]
    #[must_use]
    pub fn transaction_id(&self) -> i64 {
        self.body["transactionId"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no numeric transactionId in {}", self.text))
    }

    /// `body.data.id` as a string.
    ///
    /// # Panics
    /// When absent.
    #[track_caller]
    #[must_use]
    pub fn id(&self) -> String {
        self.data()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no data.id in {}", self.text))
            .to_owned()
    }
}

/// An API client, optionally authenticated. Its `Debug` output hides the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    token: Option<String>,
    /// The user's id, for clients made by `TestApp::user`.
    pub user_id: Option<String>,
    /// The user's email, for clients made by `TestApp::user`.
    pub email: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(http: reqwest::Client, base_url: String, token: Option<String>) -> Self {
        Self {
            http,
            base_url,
            token,
            user_id: None,
            email: None,
        }
    }

    /// The bearer token, if any.
    #[must_use]
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends a request with a raw body (for malformed-input tests). `path` starts with `/`.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<String>,
    ) -> Resp {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(ct) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            text,
            headers,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.raw(
            method,
            path,
            body.map(|_| "application/json"),
            body.map(Value::to_string),
        )
        .await
    }

    /// `GET /api/v1{path}`.
    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, &format!("/api/v1{path}"), None)
            .await
    }

    /// `POST /api/v1{path}` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, &format!("/api/v1{path}"), Some(&body))
            .await
    }

    /// `PATCH /api/v1{path}` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, &format!("/api/v1{path}"), Some(&body))
            .await
    }

    /// `PUT /api/v1{path}` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, &format!("/api/v1{path}"), Some(&body))
            .await
    }

    /// `DELETE /api/v1{path}`.
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, &format!("/api/v1{path}"), None)
            .await
    }

    /// Creates an organization and returns its id.
    ///
    /// # Panics
    /// Unless the API answers 201.
    pub async fn create_org(&self, name: &str) -> String {
        self.post("/organizations", json!({ "name": name }))
            .await
            .expect_status(201)
            .id()
    }

    /// Adds a member; returns the member id and, when the user was created, a client for them.
    ///
    /// # Panics
    /// Unless the API answers 201.
    pub async fn add_member(
        &self,
        org_id: &str,
        name: &str,
        role: &str,
    ) -> (String, Option<Client>) {
        let email = format!("{}@example.test", name.to_lowercase().replace(' ', "."));
        let resp = self
            .post(
                &format!("/organizations/{org_id}/members"),
                json!({ "email": email, "name": name, "role": role }),
            )
            .await
            .expect_status(201);
        let client = resp.data()["token"].as_str().map(|token| {
            let mut c = Client::new(
                self.http.clone(),
                self.base_url.clone(),
                Some(token.to_owned()),
            );
            c.user_id = resp.data()["userId"].as_str().map(str::to_owned);
            c.email = Some(email.clone());
            c
        });
        (resp.id(), client)
    }

    /// The caller's member id in an organization.
    ///
    /// # Panics
    /// When the caller is not listed.
    pub async fn member_id(&self, org_id: &str) -> String {
        let user_id = self.user_id.clone().expect("a client made for a user");
        let resp = self
            .get(&format!("/organizations/{org_id}/members?limit=200"))
            .await
            .expect_status(200);
        resp.data()
            .as_array()
            .and_then(|members| {
                members
                    .iter()
                    .find(|m| m["userId"].as_str() == Some(user_id.as_str()))
            })
            .and_then(|m| m["id"].as_str())
            .map(str::to_owned)
            .expect("caller is a member")
    }

    /// Creates a public channel and returns its id.
    ///
    /// # Panics
    /// Unless the API answers 201.
    pub async fn create_channel(&self, org_id: &str, name: &str) -> String {
        self.post(
            &format!("/organizations/{org_id}/channels"),
            json!({ "name": name, "type": "public" }),
        )
        .await
        .expect_status(201)
        .id()
    }

    /// Posts a message and returns its id.
    ///
    /// # Panics
    /// Unless the API answers 201.
    pub async fn post_message(&self, channel_id: &str, content: &str) -> String {
        self.post(
            &format!("/channels/{channel_id}/messages"),
            json!({ "content": content }),
        )
        .await
        .expect_status(201)
        .id()
    }
}
