//! Bearer-token authentication for every `/api/v1` operation.

use hazel_domain::model::identity::TokenSecret;
use hazel_domain::services::Caller;
use hazel_domain::services::identity::AuthenticateError;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::ApiState;
use crate::error::ApiError;

/// `Authorization: Bearer <token>`: an API token issued by `hazel-sync bootstrap` or when a
/// member is added. Missing and unknown tokens answer 401 `UnauthorizedError`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "authenticate")]
pub(crate) struct BearerAuth(pub(crate) Caller);

/// Resolves the presented token to its user. The token itself is never logged.
async fn authenticate(request: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let Some(state) = request.data::<ApiState>() else {
        tracing::error!("the API state is missing from the request; app() was not used");
        return Err(ApiError::internal().into());
    };
    state
        .identity
        .authenticate(&TokenSecret::presented(&bearer.token))
        .await
        .map_err(|err| {
            match err {
                AuthenticateError::Unauthenticated => ApiError::unauthenticated(),
                AuthenticateError::Unexpected(cause) => ApiError::unexpected(&cause),
            }
            .into()
        })
}
