//! `api_response!`: declares an operation's `#[derive(ApiResponse)]` enum from its success
//! variants and the error statuses it documents, and converts its use case's error enum into it
//! with one exhaustive `match`.
//!
//! Every error variant carries the contract's [`ErrorBody`]; 429 also sets `Retry-After`. The
//! statuses an operation answers are therefore decided by the types: a use-case failure without
//! an arm, or an arm naming a status the operation does not declare, does not compile.
//!
//! [`ErrorBody`]: crate::error::ErrorBody

/// Declares an operation's response enum and its conversion from the use case's error enum.
///
/// ```text
/// api_response! {
///     /// Answers of `memberList`.
///     ListMembersResponse {
///         /// The organization's members.
///         #[oai(status = 200)]
///         Ok(Json<Page<Member>>),
///     }
///     errors [BadRequest, Unauthorized, NotFound, Internal]
///     from MembershipError {
///         MembershipError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
///         MembershipError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
///     }
/// }
/// ```
///
/// `errors` lists the error statuses, in the order the OpenAPI document shows them: `BadRequest`
/// (400), `Unauthorized` (401), `Forbidden` (403), `NotFound` (404), `Conflict` (409),
/// `UnsupportedMediaType` (415), `Unprocessable` (422), `TooManyRequests` (429), `Internal`
/// (500), `BadGateway` (502). The `from` block becomes `impl From<UseCaseError>` whose body is one
/// `match` over the arms as written, each answering an [`ApiError`]'s body under the named
/// status; write no `_` arm. 401 and 415 are answered by the edge itself (poem's rejections, see
/// [`into_api_error`]), so their variants only document them. With `BadRequest` the enum also
/// converts a [`ValidationError`] from the handler's own parsing.
///
/// [`ApiError`]: crate::error::ApiError
/// [`into_api_error`]: crate::error::into_api_error
/// [`ValidationError`]: hazel_domain::ValidationError
macro_rules! api_response {
    (
        $(#[$attr:meta])*
        $name:ident {
            $($variants:tt)*
        }
        errors [$($err:ident),+ $(,)?]
        from $error:ty {
            $($pat:pat => $status:ident($answer:expr)),+ $(,)?
        }
    ) => {
        $crate::responses::api_response!(@munch
            [$(#[$attr])* $name { $($variants)* }]
            []
            [$($err)+]
        );

        impl From<$error> for $name {
            fn from(err: $error) -> Self {
                match err {
                    $(
                        $pat => {
                            let answer: $crate::error::ApiError = $answer;
                            $crate::responses::api_response!(@variant $status answer)
                        }
                    )+
                }
            }
        }

        $crate::responses::api_response!(@validation $name [$($err)+]);
    };

    (@munch $head:tt [$($acc:tt)*] [BadRequest $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The input is malformed or invalid (`ValidationError`; `field` names the input).
            #[oai(status = 400)]
            BadRequest(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [Unauthorized $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// No bearer token, or one that matches no user (`UnauthorizedError`).
            #[oai(status = 401)]
            #[expect(
                dead_code,
                reason = "answered by the edge itself (poem's rejection); the variant documents it"
            )]
            Unauthorized(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [Forbidden $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The caller is authenticated but not allowed to do this (`UnauthorizedError`).
            #[oai(status = 403)]
            Forbidden(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [NotFound $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The resource does not exist or belongs to an organization the caller is not a
            /// member of.
            #[oai(status = 404)]
            NotFound(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [Conflict $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The change conflicts with the current state (`ChatSyncConnectionExistsError`,
            /// `ChatSyncChannelLinkExistsError`, `ChatSyncIntegrationNotConnectedError`).
            #[oai(status = 409)]
            Conflict(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [UnsupportedMediaType $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The body is declared as something other than JSON (`UnsupportedMediaTypeError`).
            #[oai(status = 415)]
            #[expect(
                dead_code,
                reason = "answered by the edge itself (poem's rejection); the variant documents it"
            )]
            UnsupportedMediaType(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [Unprocessable $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The chat provider refused the credentials (`INVALID_CREDENTIALS`, `AUTH_EXPIRED`,
            /// `INSUFFICIENT_PERMISSIONS` with `requiredScopes`).
            #[oai(status = 422)]
            Unprocessable(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [TooManyRequests $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The chat provider rate-limited us (`RATE_LIMITED` with `retryAfterSeconds`).
            #[oai(status = 429)]
            TooManyRequests(
                poem_openapi::payload::Json<$crate::error::ErrorBody>,
                /// Seconds to wait before retrying.
                #[oai(header = "Retry-After")]
                Option<u64>,
            ),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [Internal $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// An unexpected failure (`InternalServerError`); details are logged, not answered.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [$($acc:tt)*] [BadGateway $($rest:ident)*]) => {
        $crate::responses::api_response!(@munch $head [$($acc)*
            /// The chat provider could not be reached or failed (`NETWORK_ERROR`,
            /// `PLATFORM_ERROR`).
            #[oai(status = 502)]
            BadGateway(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch
        [$(#[$attr:meta])* $name:ident { $($variants:tt)* }]
        [$($acc:tt)*]
        []
    ) => {
        $(#[$attr])*
        #[derive(poem_openapi::ApiResponse)]
        pub(crate) enum $name {
            $($variants)*
            $($acc)*
        }
    };

    (@variant TooManyRequests $err:ident) => {
        Self::TooManyRequests(poem_openapi::payload::Json($err.body()), $err.retry_after())
    };
    (@variant $variant:ident $err:ident) => {
        Self::$variant(poem_openapi::payload::Json($err.body()))
    };

    (@validation $name:ident [BadRequest $($rest:ident)*]) => {
        impl From<hazel_domain::ValidationError> for $name {
            fn from(invalid: hazel_domain::ValidationError) -> Self {
                Self::BadRequest(poem_openapi::payload::Json(
                    $crate::error::ApiError::from(invalid).body(),
                ))
            }
        }
    };
    (@validation $name:ident [$other:ident $($rest:ident)*]) => {
        $crate::responses::api_response!(@validation $name [$($rest)*]);
    };
    (@validation $name:ident []) => {};
}

pub(crate) use api_response;

#[cfg(test)]
mod tests {
    use hazel_domain::ValidationError;
    use hazel_domain::model::chat_sync::ProviderError;
    use poem::IntoResponse as _;
    use poem::http::StatusCode;
    use poem_openapi::payload::Json;

    use crate::error::ApiError;

    /// A use case's failures, for the tests.
    #[derive(Debug)]
    enum Failure {
        Invalid(ValidationError),
        Slowed(ProviderError),
    }

    api_response! {
        /// A response type that documents rate limits.
        Wide {
            /// Fine.
            #[oai(status = 200)]
            Ok(Json<String>),
        }
        errors [BadRequest, Unauthorized, TooManyRequests, Internal]
        from Failure {
            Failure::Invalid(invalid) => BadRequest(invalid.into()),
            Failure::Slowed(e) => TooManyRequests(ApiError::provider(&e)),
        }
    }

    #[test]
    fn mapped_failures_answer_the_status_of_their_arm() {
        let response =
            Wide::from(Failure::Invalid(ValidationError::new("name", "is empty"))).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = Wide::Ok(Json("fine".to_owned())).into_response();
        assert_eq!(response.status(), StatusCode::OK);
        let response = Wide::Internal(Json(ApiError::internal().body())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn rate_limits_set_retry_after() {
        let err = Failure::Slowed(ProviderError::RateLimited {
            retry_after_seconds: 7,
        });
        let response = Wide::from(err).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
    }
}
