"""Acting with a world model: environments and scripted policies, data collection into trajectory stores,
planners, model-predictive control and its pictures. Depends on the world-model protocol only
(:class:`openjepa.core.protocols.WorldModel`), never on a method."""
