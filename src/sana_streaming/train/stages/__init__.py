"""Training stages: each owns its models, optimisers and one ``train_step(step)``; the trainer runs the loop."""
