//! Organizations and their members.

use hazel_domain::error::MembershipError;
use hazel_domain::ids::OrganizationId;
use hazel_domain::model::text::{Email, Name, Slug};
use hazel_domain::services::identity::{
    AddMemberError, CreateOrganizationError, ListOrganizationsError, NewMember,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{ApiTags, answer, page_request};
use crate::ApiState;
use crate::auth::BearerAuth;
use crate::error::{ApiError, Resource};
use crate::model::{CreatedMember, Member, Mutation, Organization, Page, Role};
use crate::payload::ApiJson;
use crate::responses::api_response;
use crate::text::{CursorText, EmailRule, NameText, SlugRule, Text, UuidText};

/// Input of `organizationCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateOrganization {
    /// Display name (1-200 characters).
    name: NameText,
    /// URL-friendly handle: 2-64 characters of `a-z`, `0-9` and single hyphens. Derived from
    /// the name when absent.
    slug: Option<Text<SlugRule>>,
}

/// Input of `memberCreate`.
#[derive(Object, Deserialize)]
#[oai(rename_all = "camelCase", deny_unknown_fields)]
#[serde(rename_all = "camelCase", deny_unknown_fields, expecting = "an object")]
pub(crate) struct CreateMember {
    /// The person's email; a user is created when no user has it.
    email: Text<EmailRule>,
    /// Display name (1-200 characters).
    name: NameText,
    /// Role in the organization. Only owners may add owners.
    role: Role,
}

api_response! {
    /// Answers of `organizationCreate`.
    CreateOrganizationResponse {
        /// The organization was created; the caller is its owner.
        #[oai(status = 201)]
        Created(Json<Mutation<Organization>>),
    }
    errors [BadRequest, Unauthorized, UnsupportedMediaType, Internal]
    from CreateOrganizationError {
        CreateOrganizationError::Validation(invalid) => BadRequest(invalid.into()),
        CreateOrganizationError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `organizationList`.
    ListOrganizationsResponse {
        /// The caller's organizations, oldest first.
        #[oai(status = 200)]
        Ok(Json<Page<Organization>>),
    }
    errors [BadRequest, Unauthorized, Internal]
    from ListOrganizationsError {
        ListOrganizationsError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `memberCreate`.
    CreateMemberResponse {
        /// The member was added.
        #[oai(status = 201)]
        Created(Json<Mutation<CreatedMember>>),
    }
    errors [BadRequest, Unauthorized, Forbidden, NotFound, UnsupportedMediaType, Internal]
    from AddMemberError {
        AddMemberError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        AddMemberError::Forbidden(reason) => Forbidden(ApiError::forbidden(reason)),
        AddMemberError::Validation(invalid) => BadRequest(invalid.into()),
        AddMemberError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

api_response! {
    /// Answers of `memberList`.
    ListMembersResponse {
        /// The organization's members, oldest first.
        #[oai(status = 200)]
        Ok(Json<Page<Member>>),
    }
    errors [BadRequest, Unauthorized, NotFound, Internal]
    from MembershipError {
        MembershipError::OrganizationNotFound => NotFound(ApiError::not_found(Resource::Organization)),
        MembershipError::Unexpected(cause) => Internal(ApiError::unexpected(&cause)),
    }
}

/// Organizations and members.
pub(crate) struct OrganizationsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Organizations")]
impl OrganizationsApi {
    /// Create an organization
    ///
    /// The caller becomes its `owner` member.
    #[oai(
        path = "/organizations",
        method = "post",
        operation_id = "organizationCreate"
    )]
    #[tracing::instrument(name = "organizationCreate", skip_all)]
    async fn create(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        body: ApiJson<CreateOrganization>,
    ) -> CreateOrganizationResponse {
        answer(
            async {
                let body = body.0;
                let name = Name::parse("name", &body.name)?;
                let slug = body
                    .slug
                    .as_deref()
                    .map(|s| Slug::parse("slug", s))
                    .transpose()?;
                let created = state
                    .identity
                    .create_organization(&auth.0, name, slug)
                    .await?;
                Ok(CreateOrganizationResponse::Created(Json(Mutation::new(
                    created.data.into(),
                    created.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// List the caller's organizations
    #[oai(
        path = "/organizations",
        method = "get",
        operation_id = "organizationList"
    )]
    #[tracing::instrument(name = "organizationList", skip_all)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListOrganizationsResponse {
        answer(
            async {
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state.identity.list_organizations(&auth.0, &page).await?;
                Ok(ListOrganizationsResponse::Ok(Json(Page::from_domain(
                    found,
                    Organization::from,
                ))))
            }
            .await,
        )
    }

    /// Add a member
    ///
    /// Owners and admins only. Creates the user when no user has the email; the answer then
    /// carries the new user's API token, shown only this once.
    #[oai(
        path = "/organizations/:orgId/members",
        method = "post",
        operation_id = "memberCreate"
    )]
    #[tracing::instrument(name = "memberCreate", skip_all, fields(org_id = %org_id.0))]
    async fn add_member(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The organization.
        #[oai(name = "orgId")]
        org_id: Path<UuidText>,
        body: ApiJson<CreateMember>,
    ) -> CreateMemberResponse {
        answer(
            async {
                let organization = OrganizationId::parse("orgId", &org_id.0)?;
                let body = body.0;
                let new = NewMember {
                    email: Email::parse("email", &body.email)?,
                    name: Name::parse("name", &body.name)?,
                    role: body.role.into(),
                };
                let added = state
                    .identity
                    .add_member(&auth.0, organization, new)
                    .await?;
                Ok(CreateMemberResponse::Created(Json(Mutation::new(
                    added.data.into(),
                    added.transaction_id,
                ))))
            }
            .await,
        )
    }

    /// List the members of an organization
    #[oai(
        path = "/organizations/:orgId/members",
        method = "get",
        operation_id = "memberList"
    )]
    #[tracing::instrument(name = "memberList", skip_all, fields(org_id = %org_id.0))]
    async fn list_members(
        &self,
        auth: BearerAuth,
        state: Data<&ApiState>,
        /// The organization.
        #[oai(name = "orgId")]
        org_id: Path<UuidText>,
        /// Page size, 1-200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<CursorText>>,
    ) -> ListMembersResponse {
        answer(
            async {
                let organization = OrganizationId::parse("orgId", &org_id.0)?;
                let page = page_request(limit.0, cursor.0.as_deref())?;
                let found = state
                    .identity
                    .list_members(&auth.0, organization, &page)
                    .await?;
                Ok(ListMembersResponse::Ok(Json(Page::from_domain(
                    found,
                    Member::from,
                ))))
            }
            .await,
        )
    }
}
