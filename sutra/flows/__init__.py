"""Flow files: models, import (Glific / RapidPro exports), validation."""

from sutra.flows.load import FlowFile, FlowFileError, LoadedFlow, parse_flow_file, read_flow_file
from sutra.flows.models import Flow
from sutra.flows.validate import FlowIssue

__all__ = [
    "Flow",
    "FlowFile",
    "FlowFileError",
    "FlowIssue",
    "LoadedFlow",
    "parse_flow_file",
    "read_flow_file",
]
