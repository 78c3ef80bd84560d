"""ganviz: watch the theory of Generative Adversarial Networks while a GAN trains."""

__version__ = "0.1.0"
