"""The optimizer and its schedules: AdamW with weight decay on matrices only, schedules as pure functions of the step."""
