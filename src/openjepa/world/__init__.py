"""World models that plan: environments, trajectory stores, action-conditioned JEPAs, latent planners."""
