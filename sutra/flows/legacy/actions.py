"""Legacy actions (of an 11.12 action set) as the actions of today's flows.

Each legacy type becomes the action RapidPro migrates it to. Some of those are actions Sutra
does not run (an email, a voice prompt, a broadcast to other contacts); they are kept, so the
flow exports as RapidPro would migrate it, and the import warns that they will be skipped.

>>> from sutra.flows.legacy.common import Localization
>>> translations = Localization()
>>> migrate_action({"type": "reply", "uuid": "a1", "msg": {"eng": "Hi @contact.first_name",
...     "fra": "Salut"}, "media": {}, "send_all": False}, "eng", translations)
{'type': 'send_msg', 'uuid': 'a1', 'text': 'Hi @contact.first_name', 'attachments': [],
 'quick_replies': []}
>>> translations.languages
{'fra': {'a1': {'text': ['Salut']}}}
"""

from __future__ import annotations

import json
from typing import Any

from sutra.flows.legacy.common import Localization, list_of, text_of, texts
from sutra.flows.legacy.expressions import migrate_template

# A legacy webhook POSTed what the run knew; this body sends the same, in Sutra's terms (a value
# that is exactly "@contact" or "@results" is the whole object).
WEBHOOK_BODY = json.dumps(
    {
        "contact": "@contact",
        "flow": {"uuid": "@flow.uuid", "name": "@flow.name"},
        "results": "@results",
        "input": {"text": "@input.text", "attachments": "@input.attachments"},
    },
    indent=2,
)
# Contact fields that are really the contact's addresses (URNs) in RapidPro.
_URN_FIELDS = {"tel_e164": "tel", "tel": "tel", "twitter": "twitter", "telegram": "telegram"}
_URN_FIELDS.update(
    {scheme: scheme for scheme in ("mailto", "facebook", "whatsapp", "viber", "line")}
)


def webhook_action(
    uuid: str, url: str, method: str, headers: Any, result_name: str
) -> dict[str, Any]:
    """The ``call_webhook`` of a legacy webhook; POST sends the run as JSON, as RapidPro does."""
    method = (method or "POST").upper()
    migrated_headers: dict[str, str] = {}
    if method == "POST":
        migrated_headers["Content-Type"] = "application/json"
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and text_of(header.get("name")):
            migrated_headers[text_of(header["name"])] = migrate_template(
                text_of(header.get("value"))
            )
    return {
        "type": "call_webhook",
        "uuid": uuid,
        "method": method,
        "url": migrate_template(url),
        "headers": migrated_headers,
        "body": WEBHOOK_BODY if method == "POST" else "",
        "result_name": result_name,
    }


def _refs(values: Any) -> list[dict[str, str]]:
    refs = []
    for value in values if isinstance(values, list) else []:
        if isinstance(value, str):
            # A name to work out as the flow runs ("@contact.district").
            refs.append({"name": migrate_template(value)})
        elif isinstance(value, dict):
            refs.append({"uuid": text_of(value.get("uuid")), "name": text_of(value.get("name"))})
    return refs


def _message(action: dict[str, Any], base: str, localization: Localization) -> dict[str, Any]:
    """Text, attachments and quick replies of a reply or send, with their translations."""
    uuid = action["uuid"]
    text = localization.text(uuid, "text", texts(action.get("msg"), base))
    media = texts(action.get("media"), base) if action.get("media") else None
    attachments = []
    if media is not None and media.base:
        attachments.append(localization.text(uuid, "attachments", media))
    replies = [texts(reply, base) for reply in list_of(action.get("quick_replies"))]
    languages = {language for reply in replies for language in reply.translations}
    for language in sorted(languages):
        localization.add(
            language,
            uuid,
            "quick_replies",
            [migrate_template(reply.translations.get(language, "")) for reply in replies],
        )
    return {
        "text": text,
        "attachments": attachments,
        "quick_replies": [migrate_template(reply.base) for reply in replies],
    }


def migrate_action(action: dict[str, Any], base: str, localization: Localization) -> dict[str, Any]:
    """The action of today's flows that ``action`` (a legacy one) migrates to."""
    kind = text_of(action.get("type"))
    uuid = text_of(action.get("uuid"))
    new: dict[str, Any]
    if kind == "reply":
        new = {"type": "send_msg", "uuid": uuid, **_message(action, base, localization)}
        if action.get("send_all"):
            new["all_urns"] = True
    elif kind == "send":
        message = _message(action, base, localization)
        del message["quick_replies"]
        new = {"type": "send_broadcast", "uuid": uuid, **message}
        new["contacts"] = _refs(action.get("contacts"))
        new["groups"] = _refs(action.get("groups"))
        new["legacy_vars"] = _variables(action)
    elif kind == "say":
        new = {"type": "say_msg", "uuid": uuid}
        new["text"] = localization.text(uuid, "text", texts(action.get("msg"), base))
        recording = texts(action.get("recording"), base) if action.get("recording") else None
        if recording is not None and recording.base:
            new["audio_url"] = localization.text(uuid, "audio_url", recording)
    elif kind == "play":
        new = {
            "type": "play_audio",
            "uuid": uuid,
            "audio_url": migrate_template(text_of(action.get("url"))),
        }
    elif kind in ("add_group", "del_group"):
        groups = _refs(action.get("groups"))
        if kind == "add_group":
            new = {"type": "add_contact_groups", "uuid": uuid, "groups": groups}
        else:
            # A legacy "remove from groups" with no groups removed the contact from all of them.
            new = {
                "type": "remove_contact_groups",
                "uuid": uuid,
                "groups": groups,
                "all_groups": not groups,
            }
    elif kind == "add_label":
        new = {"type": "add_input_labels", "uuid": uuid, "labels": _refs(action.get("labels"))}
    elif kind == "save":
        new = _save(uuid, action)
    elif kind == "lang":
        new = {
            "type": "set_contact_language",
            "uuid": uuid,
            "language": text_of(action.get("lang")),
        }
    elif kind == "channel":
        channel = {"uuid": text_of(action.get("channel")), "name": text_of(action.get("name"))}
        new = {"type": "set_contact_channel", "uuid": uuid, "channel": channel}
    elif kind == "flow":
        # "Start another flow": the contact moves on to it and this flow ends.
        new = {"type": "enter_flow", "uuid": uuid, "flow": action.get("flow"), "terminal": True}
    elif kind == "trigger-flow":
        # Starts the flow for other contacts (and groups), not for this one.
        new = {"type": "start_session", "uuid": uuid, "flow": action.get("flow")}
        new["contacts"] = _refs(action.get("contacts"))
        new["groups"] = _refs(action.get("groups"))
        new["legacy_vars"] = _variables(action)
        if any(text_of(v.get("id")) == "@new_contact" for v in _variable_refs(action)):
            new["create_contact"] = True
    elif kind == "email":
        new = {
            "type": "send_email",
            "uuid": uuid,
            "addresses": [migrate_template(text_of(e)) for e in list_of(action.get("emails"))],
            "subject": migrate_template(text_of(action.get("subject"))),
            "body": migrate_template(texts(action.get("msg"), base).base),
        }
    elif kind == "api":
        new = webhook_action(
            uuid,
            text_of(action.get("webhook")),
            text_of(action.get("action")),
            action.get("webhook_headers"),
            "webhook",
        )
    else:
        # Unknown to RapidPro's migration too: kept, and reported as skipped when it runs.
        new = {**action, "type": kind, "uuid": uuid}
    return new


def _variable_refs(action: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in list_of(action.get("variables")) if isinstance(v, dict)]


def _variables(action: dict[str, Any]) -> list[str]:
    return [
        migrate_template(text_of(v.get("id")))
        for v in _variable_refs(action)
        if text_of(v.get("id")) and text_of(v.get("id")) != "@new_contact"
    ]


def _save(uuid: str, action: dict[str, Any]) -> dict[str, Any]:
    field = text_of(action.get("field")).strip().lower()
    value = migrate_template(text_of(action.get("value")))
    if field == "name":
        return {"type": "set_contact_name", "uuid": uuid, "name": value}
    if field == "first_name":
        # Only the first name changes: the rest of the contact's name follows it.
        return {
            "type": "set_contact_name",
            "uuid": uuid,
            "name": f"{value.strip()} @(word_slice(contact.name, 1, -1))",
        }
    if field in _URN_FIELDS:
        return {
            "type": "add_contact_urn",
            "uuid": uuid,
            "scheme": _URN_FIELDS[field],
            "path": value,
        }
    label = text_of(action.get("label")) or field
    return {
        "type": "set_contact_field",
        "uuid": uuid,
        "field": {"key": field, "name": label},
        "value": value,
    }
