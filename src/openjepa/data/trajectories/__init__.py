"""Trajectories: the on-disk store of episodes, training windows over it, and its train/test split."""
