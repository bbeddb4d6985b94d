"""Training: recipes, self-blending, the boundary target, the training loop, the generalization protocol."""
