"""Schemathesis hooks for scripts/schemathesis.sh.

Some rules depend on stored data, not on the shape of a request, so no schema can state them:
an id in a path or a body must name an existing resource (404, or 400 for a parent), a slug or a
member's email must not be taken yet, new credentials must be of the connection's provider, and
selected and linked channels must be channels the provider shows the bot. So that the fuzzer's requests exercise the service rather
than those rules, this hook points UUIDs at the seeded data (an organization, a channel, two
messages, connections and channel links: one of each that requests may delete, one they must
not) and makes slugs and emails unique.
Only requests generated to be valid are changed (those built to break the schema are sent as
generated), and only into values of the documented shape.
"""

import itertools
import json
import os
import re

import schemathesis

UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
COUNTER = itertools.count()
SCHEMAS = json.load(open(os.environ["HAZEL_FUZZ_SPEC"], encoding="utf-8"))["components"]["schemas"]
EMAIL = re.compile(SCHEMAS["CreateMember"]["properties"]["email"]["pattern"])

ORG = os.environ["HAZEL_FUZZ_ORG_ID"]
MEMBER = os.environ["HAZEL_FUZZ_MEMBER_ID"]
CHANNEL = os.environ["HAZEL_FUZZ_CHANNEL_ID"]
MESSAGE = os.environ["HAZEL_FUZZ_MESSAGE_ID"]
DOOMED_MESSAGE = os.environ["HAZEL_FUZZ_DOOMED_MESSAGE_ID"]
CONNECTION = os.environ["HAZEL_FUZZ_CONNECTION_ID"]
DOOMED_CONNECTION = os.environ["HAZEL_FUZZ_DOOMED_CONNECTION_ID"]
LINK = os.environ["HAZEL_FUZZ_LINK_ID"]
DOOMED_LINK = os.environ["HAZEL_FUZZ_DOOMED_LINK_ID"]
NOTIFICATION = os.environ["HAZEL_FUZZ_NOTIFICATION_ID"]

# Ids in bodies that must name a live resource of the seeded organization.
BODY_IDS = {
    "organizationId": ORG,
    "memberId": MEMBER,
    "channelId": CHANNEL,
    "hazelChannelId": CHANNEL,
    "parentMessageId": MESSAGE,
    "parentChannelId": CHANNEL,
}


def is_uuid(value):
    return isinstance(value, str) and UUID.fullmatch(value) is not None


def unique_slug(slug):
    suffix = f"-{next(COUNTER)}"
    return slug[: 64 - len(suffix)].rstrip("-") + suffix


def unique_email(email):
    """A valid email no one has yet, as long as `email` (the length may be what is tested)."""
    local, _, domain = email.partition("@")
    tagged = f"{local}+{next(COUNTER)}@{domain}"
    if len(tagged) <= 254:
        return tagged
    fresh = f"fuzz{next(COUNTER)}@example.com"
    return fresh + " " * (len(email) - len(fresh))


def resource_id(method, path):
    """The seeded resource a `{id}` path parameter should name."""
    if path.startswith("/api/v1/connections/"):
        return DOOMED_CONNECTION if method == "DELETE" and path.endswith("{id}") else CONNECTION
    if path.startswith("/api/v1/channel-links/"):
        return DOOMED_LINK if method == "DELETE" else LINK
    if path.startswith("/api/v1/notifications/"):
        return NOTIFICATION
    return None


def path_parameters(case):
    params = dict(case.path_parameters or {})
    # Here path parameters are already percent-encoded, and Schemathesis revalidates a changed
    # case against the encoded text: an emoji of 99 characters would then count as too long.
    if any("%" in str(value) for value in params.values()):
        return params
    method = case.method.upper()
    deleting_message = method == "DELETE" and case.path == "/api/v1/messages/{messageId}"
    seeded = {
        "orgId": ORG,
        "channelId": CHANNEL,
        "messageId": DOOMED_MESSAGE if deleting_message else MESSAGE,
        "id": resource_id(method, case.path),
    }
    for name, value in seeded.items():
        if value and is_uuid(params.get(name)):
            params[name] = value
    return params


# The simulators' demo Slack workspace (see hazel-simulators), which the seeded connection uses.
# Their ids and tokens come from the simulators' own output (HAZEL_DEMO_*), so they cannot drift.
SLACK_CREDENTIALS = {"botToken": os.environ["HAZEL_DEMO_SLACK_BOT_TOKEN"], "signingSecret": "s3cret"}
SLACK_CHANNELS = ["C0GENERAL", "C0RANDOM", "G0PRIVATE"]
LINKABLE_CHANNELS = ["C0GENERAL", "C0RANDOM"]
DEMO_WORKSPACES = {
    "slack": (os.environ["HAZEL_DEMO_SLACK_TEAM"], SLACK_CREDENTIALS),
    "discord": (
        os.environ["HAZEL_DEMO_DISCORD_GUILD"],
        {"botToken": os.environ["HAZEL_DEMO_DISCORD_BOT_TOKEN"]},
    ),
}


def body(case, value):
    if not isinstance(value, dict):
        return value
    value = dict(value)
    workspace = DEMO_WORKSPACES.get(value.get("provider"))
    if case.path == "/api/v1/connections" and workspace and isinstance(value.get("credentials"), dict):
        value["externalWorkspaceId"], credentials = workspace
        value["credentials"] = dict(credentials)
    if case.path.startswith("/api/v1/connections/{id}"):
        if isinstance(value.get("credentials"), dict):
            value["credentials"] = dict(SLACK_CREDENTIALS)
        # A link's channel must be one the bot sees (a public channel it can join).
        if isinstance(value.get("externalChannelId"), str):
            value["externalChannelId"] = LINKABLE_CHANNELS[next(COUNTER) % len(LINKABLE_CHANNELS)]
        if isinstance(value.get("channelIds"), list):
            value["channelIds"] = [
                SLACK_CHANNELS[i % len(SLACK_CHANNELS)] for i, _ in enumerate(value["channelIds"])
            ]
    for field, seeded in BODY_IDS.items():
        if is_uuid(value.get(field)):
            value[field] = seeded
    slug = value.get("slug")
    if isinstance(slug, str) and 2 <= len(slug) <= 64 and SLUG.fullmatch(slug):
        value["slug"] = unique_slug(slug)
    email = value.get("email")
    if isinstance(email, str) and "role" in value and len(email) <= 254 and EMAIL.search(email):
        value["email"] = unique_email(email)
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.path_parameters:
        case.path_parameters = path_parameters(case)
    if isinstance(case.body, dict):
        case.body = body(case, case.body)
    if case.query and is_uuid(case.query.get("organizationId")):
        case.query = {**case.query, "organizationId": ORG}
