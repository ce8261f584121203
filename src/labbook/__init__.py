"""labbook: a self-hostable experiment tracker with a wandb-compatible SDK."""

__version__ = "0.1.0"
