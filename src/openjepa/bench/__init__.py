"""``openjepa bench``: training-step throughput (images, clips, world models) and planning time, beside this
machine's matmul peak measured in the same run."""
