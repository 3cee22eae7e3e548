//! `flat_api_response!`: declares an operation's `#[derive(ApiResponse)]` enum from its success
//! variants and the error statuses it can answer, and converts [`ApiError`]s into it.
//!
//! Every error variant carries the contract's [`ErrorBody`]; 429 also sets `Retry-After`. The
//! macro keeps the per-operation enums short while each still lists exactly its statuses in the
//! OpenAPI document.
//!
//! [`ApiError`]: crate::error::ApiError
//! [`ErrorBody`]: crate::error::ErrorBody

/// Declares an operation's response enum.
///
/// ```text
/// flat_api_response! {
///     /// Answers of `organizationCreate`.
///     CreateOrganizationResponse {
///         /// The organization was created.
///         #[oai(status = 201)]
///         Created(Json<Mutation<Organization>>),
///     }
///     errors [BadRequest, Unauthorized, UnsupportedMediaType, Internal]
/// }
/// ```
///
/// The error list must contain `Internal`: an error whose status the list lacks is logged and
/// answered as a 500.
macro_rules! flat_api_response {
    (
        $(#[$attr:meta])*
        $name:ident {
            $($variants:tt)*
        }
        errors [$($err:ident),+ $(,)?]
    ) => {
        $crate::responses::flat_api_response!(@munch
            [$(#[$attr])* $name { $($variants)* }]
            [$($err)+]
            []
            [$($err)+]
        );
    };

    (@munch $head:tt $all:tt [$($acc:tt)*] [BadRequest $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The input is malformed or invalid (`ValidationError`; `field` names the input).
            #[oai(status = 400)]
            BadRequest(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [] [$($acc:tt)*] [Unauthorized $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head [] [$($acc)*
            /// No bearer token, or one that matches no user (`UnauthorizedError`).
            #[oai(status = 401)]
            #[expect(
                dead_code,
                reason = "answered by the edge itself (poem's rejection); the variant documents it"
            )]
            Unauthorized(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [Unauthorized $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// No bearer token, or one that matches no user (`UnauthorizedError`).
            #[oai(status = 401)]
            Unauthorized(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [Forbidden $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The caller is authenticated but not allowed to do this (`UnauthorizedError`).
            #[oai(status = 403)]
            Forbidden(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [NotFound $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The resource does not exist or belongs to an organization the caller is not a
            /// member of.
            #[oai(status = 404)]
            NotFound(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [Conflict $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The change conflicts with the current state (`ChatSyncConnectionExistsError`,
            /// `ChatSyncChannelLinkExistsError`, `ChatSyncIntegrationNotConnectedError`).
            #[oai(status = 409)]
            Conflict(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt [] [$($acc:tt)*] [UnsupportedMediaType $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head [] [$($acc)*
            /// The body is declared as something other than JSON (`UnsupportedMediaTypeError`).
            #[oai(status = 415)]
            #[expect(
                dead_code,
                reason = "answered by the edge itself (poem's rejection); the variant documents it"
            )]
            UnsupportedMediaType(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [UnsupportedMediaType $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The body is declared as something other than JSON (`UnsupportedMediaTypeError`).
            #[oai(status = 415)]
            UnsupportedMediaType(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [Unprocessable $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The chat provider refused the credentials (`INVALID_CREDENTIALS`, `AUTH_EXPIRED`,
            /// `INSUFFICIENT_PERMISSIONS` with `requiredScopes`).
            #[oai(status = 422)]
            Unprocessable(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [TooManyRequests $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
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
    (@munch $head:tt $all:tt [$($acc:tt)*] [Internal $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// An unexpected failure (`InternalServerError`); details are logged, not answered.
            #[oai(status = 500)]
            Internal(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };
    (@munch $head:tt $all:tt [$($acc:tt)*] [BadGateway $($rest:ident)*]) => {
        $crate::responses::flat_api_response!(@munch $head $all [$($acc)*
            /// The chat provider could not be reached or failed (`NETWORK_ERROR`,
            /// `PLATFORM_ERROR`).
            #[oai(status = 502)]
            BadGateway(poem_openapi::payload::Json<$crate::error::ErrorBody>),
        ] [$($rest)*]);
    };

    (@munch
        [$(#[$attr:meta])* $name:ident { $($variants:tt)* }]
        [$($all:ident)+]
        [$($acc:tt)*]
        []
    ) => {
        $(#[$attr])*
        #[derive(poem_openapi::ApiResponse)]
        pub(crate) enum $name {
            $($variants)*
            $($acc)*
        }

        impl From<$crate::error::ApiError> for $name {
            fn from(err: $crate::error::ApiError) -> Self {
                $(
                    if err.class() == Some($crate::error::ErrorClass::$all) {
                        return $crate::responses::flat_api_response!(@variant $all err);
                    }
                )+
                let err = err.undocumented(stringify!($name));
                $crate::responses::flat_api_response!(@variant Internal err)
            }
        }
    };

    (@munch
        [$(#[$attr:meta])* $name:ident { $($variants:tt)* }]
        []
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
}

pub(crate) use flat_api_response;

/// Declares an operation's response enum from its success variants, the error statuses it
/// documents, and the exhaustive mapping from its use case's error enum to those statuses.
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
/// The `from` block becomes `impl From<UseCaseError>` whose body is one `match` over the arms
/// as written: a use-case variant without an arm does not compile, and neither does an arm
/// naming a status the `errors` list does not declare. Write no `_` arm. The statuses the edge
/// itself answers (400 for a malformed request, 401, 415, 500) are listed like any other; with
/// `BadRequest` the enum also converts a [`ValidationError`] of the handler's own parsing.
///
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
        $crate::responses::flat_api_response!(@munch
            [$(#[$attr])* $name { $($variants)* }]
            []
            []
            [$($err)+]
        );

        impl From<$error> for $name {
            fn from(err: $error) -> Self {
                match err {
                    $(
                        $pat => {
                            let answer: $crate::error::ApiError = $answer;
                            $crate::responses::flat_api_response!(@variant $status answer)
                        }
                    )+
                }
            }
        }

        $crate::responses::api_response!(@validation $name [$($err)+]);
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
    use hazel_domain::DomainError;
    use hazel_domain::model::chat_sync::ProviderError;
    use poem::IntoResponse as _;
    use poem::http::StatusCode;
    use poem_openapi::payload::Json;

    use crate::error::ApiError;

    flat_api_response! {
        /// A response type that documents only some error statuses.
        Narrow {
            /// Fine.
            #[oai(status = 200)]
            Ok(Json<String>),
        }
        errors [BadRequest, Unauthorized, Internal]
    }

    flat_api_response! {
        /// A response type that documents rate limits.
        Wide {
            /// Fine.
            #[oai(status = 200)]
            Ok(Json<String>),
        }
        errors [BadRequest, Unauthorized, TooManyRequests, Internal]
    }

    #[test]
    fn documented_errors_keep_their_status() {
        let response =
            Narrow::from(ApiError::validation("name", "must not be empty")).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = Narrow::Ok(Json("fine".to_owned())).into_response();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn undocumented_errors_become_internal_errors() {
        let response = Narrow::from(ApiError::from(DomainError::ConnectionExists)).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn rate_limits_set_retry_after() {
        let err = ApiError::from(DomainError::Provider(ProviderError::RateLimited {
            retry_after_seconds: 7,
        }));
        let response = Wide::from(err).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let response = Wide::Ok(Json("fine".to_owned())).into_response();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
