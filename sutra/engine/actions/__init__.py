"""Flow actions, one module each. Importing this package registers them all."""

from sutra.engine.actions import (
    add_contact_groups,
    add_input_labels,
    call_llm,
    call_webhook,
    enter_flow,
    remove_contact_groups,
    send_interactive_msg,
    send_msg,
    set_contact_field,
    set_contact_language,
    set_contact_name,
    set_run_local,
    set_run_result,
    wait_for_result,
    wait_for_time,
)
from sutra.engine.actions.base import ACTIONS, Action, UnknownAction

__all__ = [
    "ACTIONS",
    "Action",
    "UnknownAction",
    "add_contact_groups",
    "add_input_labels",
    "call_llm",
    "call_webhook",
    "enter_flow",
    "remove_contact_groups",
    "send_interactive_msg",
    "send_msg",
    "set_contact_field",
    "set_contact_language",
    "set_contact_name",
    "set_run_local",
    "set_run_result",
    "wait_for_result",
    "wait_for_time",
]
