"""The registered environments (gymnasium API, ``{"pixels", "state"}`` observations) and planners."""

from openjepa.core.registry import Registry

ENVS = Registry("environment", home="openjepa.control.envs")
PLANNERS = Registry("planner", home="openjepa.control.planners")
