"""Reading what earlier versions of openjepa wrote (run configs of layout 1)."""
