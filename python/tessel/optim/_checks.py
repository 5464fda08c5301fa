"""Argument checks shared by the Python-loop optimizers (PyTorch's messages)."""


def check_nonneg(**values):
    names = {"lr": "learning rate", "eps": "epsilon value"}
    for name, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {names.get(name, name)}: {value}" if name in names
                             else f"Invalid {name} value: {value}")


def check_betas(betas):
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_unsupported(**flags):
    on = [name for name, value in flags.items() if value]
    if on:
        raise NotImplementedError(f"{', '.join(on)}=True is not supported")
