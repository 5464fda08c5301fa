"""torch.nn.functional ops composed from tessel ops (re-exported by tessel.nn.functional)."""
