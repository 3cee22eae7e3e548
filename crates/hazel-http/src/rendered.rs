//! JSON bodies rendered once and answered again while what they render has not changed.
//!
//! Rendering a page through poem-openapi builds a `serde_json::Value` tree (a map and a string
//! per field) and then writes it out: for a page of notifications that was most of the
//! request's CPU. A list that its reader polls is mostly the same page again, so the first
//! page of a caller's notifications keeps its rendered body beside the domain page it was
//! rendered from. A later request answers the kept bytes only when the page it read (fresh
//! from the service) equals the kept one, so a kept body can never be stale: it is a pure
//! function of the page, checked on every use.

use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use poem::http::header::CONTENT_TYPE;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

/// How many rendered pages are kept (each a few kilobytes).
const CAPACITY: u64 = 10_000;
/// How long an unused rendered page is kept.
const IDLE: Duration = Duration::from_secs(60);

/// A JSON answer already rendered; documented exactly as [`Json<T>`] is.
pub(crate) struct RenderedJson<T> {
    body: poem::Body,
    rendered: PhantomData<fn() -> T>,
}

impl<T> RenderedJson<T> {
    /// `value`, rendered now.
    pub(crate) fn now(value: &T) -> Self
    where
        T: ToJSON,
    {
        Self::new(Bytes::from(render_json(value)))
    }

    fn new(bytes: Bytes) -> Self {
        Self {
            body: poem::Body::from_bytes(bytes),
            rendered: PhantomData,
        }
    }
}

impl<T: Type> Payload for RenderedJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for RenderedJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .header(CONTENT_TYPE, <Json<bool> as Payload>::CONTENT_TYPE)
            .body(self.body)
    }
}

impl<T: ToJSON + Send> ApiResponse for RenderedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Self as Payload>::CONTENT_TYPE,
                    schema: <Self as Payload>::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// Rendered bodies by request, each with the value it was rendered from.
pub(crate) struct RenderedPages<K, V> {
    kept: moka::sync::Cache<K, Arc<(V, Bytes)>>,
}

impl<K, V> RenderedPages<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: PartialEq + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        Self {
            kept: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    /// The body of `value`: the kept one when `key`'s kept value equals `value`, else
    /// `render(&value)` rendered now (and kept for `key`).
    pub(crate) fn answer<T: ToJSON>(
        &self,
        key: K,
        value: V,
        render: impl FnOnce(&V) -> T,
    ) -> RenderedJson<T> {
        if let Some(kept) = self.kept.get(&key)
            && kept.0 == value
        {
            return RenderedJson::new(kept.1.clone());
        }
        let bytes = Bytes::from(render_json(&render(&value)));
        self.kept.insert(key, Arc::new((value, bytes.clone())));
        RenderedJson::new(bytes)
    }
}

/// The body poem-openapi's [`Json`] answers for `value`, byte for byte.
fn render_json<T: ToJSON>(value: &T) -> Vec<u8> {
    // `poem::web::Json` writes its value with `serde_json::to_vec` too.
    serde_json::to_vec(&value.to_json()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body<T: Send>(answer: RenderedJson<T>) -> String {
        answer
            .into_response()
            .into_body()
            .into_string()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_kept_body_is_answered_only_for_an_equal_value() {
        let pages = RenderedPages::<&str, Vec<i32>>::new();
        let renders = std::cell::Cell::new(0);
        let render = |v: &Vec<i32>| {
            renders.set(renders.get() + 1);
            v.clone()
        };
        assert_eq!(body(pages.answer("a", vec![1, 2], render)).await, "[1,2]");
        assert_eq!(body(pages.answer("a", vec![1, 2], render)).await, "[1,2]");
        assert_eq!(
            renders.get(),
            1,
            "the equal page was answered from the kept body"
        );
        assert_eq!(body(pages.answer("a", vec![1, 3], render)).await, "[1,3]");
        assert_eq!(renders.get(), 2, "a changed page is rendered again");
        assert_eq!(body(pages.answer("b", vec![1, 3], render)).await, "[1,3]");
        assert_eq!(renders.get(), 3, "another request's key has its own body");
    }

    #[tokio::test]
    async fn the_body_and_content_type_are_those_of_json() {
        let pages = RenderedPages::<u8, Vec<String>>::new();
        let rendered = pages
            .answer(1, vec!["é\"".to_owned()], Clone::clone)
            .into_response();
        let plain = Json(vec!["é\"".to_owned()]).into_response();
        assert_eq!(
            rendered.headers().get(CONTENT_TYPE),
            plain.headers().get(CONTENT_TYPE)
        );
        assert_eq!(
            rendered.into_body().into_string().await.unwrap(),
            plain.into_body().into_string().await.unwrap()
        );
    }
}
