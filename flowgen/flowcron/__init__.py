"""The FlowCron flow: instance config, flow definition and input schema."""

from flowgen.flowcron.build import BuiltFlow, build, build_from_config
from flowgen.flowcron.config import FlowConfig, load_config

__all__ = ["BuiltFlow", "FlowConfig", "build", "build_from_config", "load_config"]
