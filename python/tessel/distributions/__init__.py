"""ts.distributions: the torch.distributions that training scripts use most
(policy gradients, VAEs, probabilistic regression): Normal, Categorical,
Bernoulli, Uniform and kl_divergence between them. Parameters broadcast;
sample() draws without gradient, rsample() reparameterizes (Normal, Uniform);
arguments are validated as PyTorch does by default (ValueError)."""
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = ["Distribution", "Normal", "Categorical", "Bernoulli", "Uniform", "kl_divergence", "register_kl"]
